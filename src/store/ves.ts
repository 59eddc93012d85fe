import type { Db } from './db.ts';

export interface VeRecord {
  id: number;
  node: string;
  owner: string;
  username: string;
  template: string;
  requestId: number;
  state: 'active' | 'removed';
  createdAt: string;
  removedAt: string | null;
}

interface Row {
  id: number;
  node: string;
  owner: string;
  username: string;
  template: string;
  request_id: number;
  state: 'active' | 'removed';
  created_at: string;
  removed_at: string | null;
}

function fromRow(row: Row): VeRecord {
  return {
    id: row.id,
    node: row.node,
    owner: row.owner,
    username: row.username,
    template: row.template,
    requestId: row.request_id,
    state: row.state,
    createdAt: row.created_at,
    removedAt: row.removed_at,
  };
}

/** VEs the bot made, and the cluster-wide ID sequence that names them. */
export class VeRepo {
  constructor(private readonly db: Db) {}

  /**
   * The next VE ID not in `inUse` (the IDs the chosen node already has, VEs the bot did not
   * make among them). IDs only go up, and a skipped one is used up too, so a removed VE's ID is
   * never handed out again and the sequence stays one for the whole cluster.
   */
  allocateId(inUse: ReadonlySet<number> = new Set()): number {
    const next = this.db.prepare(
      `UPDATE sequences SET next = next + 1 WHERE name = 've' RETURNING next - 1 AS id`,
    );
    for (;;) {
      const { id } = next.get() as { id: number };
      if (!inUse.has(id)) {
        return id;
      }
    }
  }

  /** Owners of VEs not removed that have `username` as their login. */
  ownersOfLogin(username: string): string[] {
    const rows = this.db
      .prepare(`SELECT DISTINCT owner FROM ves WHERE username = ? AND state = 'active'`)
      .all(username) as { owner: string }[];
    return rows.map((row) => row.owner);
  }

  /** The ID allocateId would hand out now, without taking it. */
  peekNextId(): number {
    const row = this.db.prepare(`SELECT next FROM sequences WHERE name = 've'`).get() as {
      next: number;
    };
    return row.next;
  }

  insert(ve: Omit<VeRecord, 'state' | 'removedAt'>): void {
    this.db
      .prepare(
        `INSERT INTO ves (id, node, owner, username, template, request_id, state, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'active', ?)`,
      )
      .run(ve.id, ve.node, ve.owner, ve.username, ve.template, ve.requestId, ve.createdAt);
  }

  get(id: number): VeRecord | null {
    const row = this.db.prepare('SELECT * FROM ves WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  active(owner?: string): VeRecord[] {
    const rows = (
      owner === undefined
        ? this.db.prepare(`SELECT * FROM ves WHERE state = 'active' ORDER BY id`).all()
        : this.db
            .prepare(`SELECT * FROM ves WHERE state = 'active' AND owner = ? ORDER BY id`)
            .all(owner)
    ) as Row[];
    return rows.map(fromRow);
  }

  countActiveByOwner(owner: string): number {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM ves WHERE state = 'active' AND owner = ?`)
      .get(owner) as { n: number };
    return row.n;
  }

  countActiveByNode(node: string): number {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM ves WHERE state = 'active' AND node = ?`)
      .get(node) as { n: number };
    return row.n;
  }

  markRemoved(id: number, at: string): boolean {
    const info = this.db
      .prepare(`UPDATE ves SET state = 'removed', removed_at = ? WHERE id = ? AND state = 'active'`)
      .run(at, id);
    return info.changes === 1;
  }
}
