import type { Db } from './db.ts';

/** Chat events already handled, so a redelivered event (Slack retries) runs only once. */
export class EventRepo {
  constructor(private readonly db: Db) {}

  /** True the first time an event id is claimed, false on every later try. */
  claim(eventId: string, at: string): boolean {
    const info = this.db
      .prepare('INSERT OR IGNORE INTO handled_events (event_id, handled_at) VALUES (?, ?)')
      .run(eventId, at);
    return info.changes === 1;
  }

  /** Forgets events older than `cutoff`; redeliveries come within minutes, not days. */
  prune(cutoff: string): number {
    return this.db.prepare('DELETE FROM handled_events WHERE handled_at < ?').run(cutoff).changes;
  }
}
