import type { Db } from './db.ts';

export type AuditOutcome = 'ok' | 'refused' | 'failed' | 'error';

export interface AuditEntry {
  at: string;
  /** An identity, or `system` for what the bot does by itself (expiry, recovery). */
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  detail: string | null;
}

export interface AuditRecord extends AuditEntry {
  id: number;
}

/** Who did what, when, and how it ended; rows are only ever added. */
export class AuditRepo {
  constructor(private readonly db: Db) {}

  add(entry: AuditEntry): void {
    this.db
      .prepare(
        `INSERT INTO audit (at, actor, action, target, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(entry.at, entry.actor, entry.action, entry.target, entry.outcome, entry.detail);
  }

  /** The newest `limit` entries, newest first. */
  recent(limit: number): AuditRecord[] {
    return this.db
      .prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?')
      .all(limit) as AuditRecord[];
  }
}
