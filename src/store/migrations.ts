/**
 * The schema as an ordered list of steps. The list is append-only: a released step is never
 * edited, a change is a new step at the end. `user_version` records how far a database got.
 */
import type Database from 'better-sqlite3';

import { CrewvzError } from '../errors.ts';
import { WATCHER_MIGRATION_SQL } from '../watcher/sqlite-store.ts';

export interface Migration {
  version: number;
  up: string;
  /**
   * The step rebuilds a table other tables point at (SQLite cannot drop NOT NULL in place).
   * Foreign keys are then switched off around the transaction, as SQLite's documented
   * rebuild procedure asks, and checked with foreign_key_check before it commits.
   */
  rebuildsTables?: boolean;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        requester TEXT NOT NULL,
        username TEXT NOT NULL,
        template TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'provisioning', 'active',
          'failed', 'denied', 'cancelled', 'expired')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        decided_by TEXT,
        reason TEXT,
        ve_id INTEGER UNIQUE,
        node TEXT,
        origin_adapter TEXT,
        origin_kind TEXT,
        origin_room TEXT,
        origin_thread TEXT
      );
      CREATE INDEX requests_by_state ON requests (state, created_at);
      CREATE INDEX requests_by_requester ON requests (requester, state);

      CREATE TABLE sequences (
        name TEXT PRIMARY KEY,
        next INTEGER NOT NULL
      );
      INSERT INTO sequences (name, next) VALUES ('ve', 101);

      CREATE TABLE ves (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL,
        owner TEXT NOT NULL,
        username TEXT NOT NULL,
        template TEXT NOT NULL,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
        created_at TEXT NOT NULL,
        removed_at TEXT
      );
      CREATE INDEX ves_by_owner ON ves (owner, state);
      CREATE INDEX ves_by_node ON ves (node, state);

      CREATE TABLE role_grants (
        identity TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('crew')),
        granted_by TEXT NOT NULL,
        granted_at TEXT NOT NULL
      );

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
      );

      CREATE TABLE handled_events (
        event_id TEXT PRIMARY KEY,
        handled_at TEXT NOT NULL
      );
    `,
  },
  // The beancounter watcher's baselines, cooldowns, node health, mutes and recent alerts.
  { version: 2, up: WATCHER_MIGRATION_SQL },
  // requests.template may be NULL: filed while no node answered, the node's default template
  // is chosen at approval. Same columns in the same order, so rows copy over as they are.
  {
    version: 3,
    rebuildsTables: true,
    up: `
      CREATE TABLE requests_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        requester TEXT NOT NULL,
        username TEXT NOT NULL,
        template TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'provisioning', 'active',
          'failed', 'denied', 'cancelled', 'expired')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        decided_by TEXT,
        reason TEXT,
        ve_id INTEGER UNIQUE,
        node TEXT,
        origin_adapter TEXT,
        origin_kind TEXT,
        origin_room TEXT,
        origin_thread TEXT
      );
      INSERT INTO requests_v3 SELECT * FROM requests;
      DELETE FROM sqlite_sequence WHERE name = 'requests_v3';
      INSERT INTO sqlite_sequence (name, seq)
        SELECT 'requests_v3', seq FROM sqlite_sequence WHERE name = 'requests';
      DROP TABLE requests;
      ALTER TABLE requests_v3 RENAME TO requests;
      CREATE INDEX requests_by_state ON requests (state, created_at);
      CREATE INDEX requests_by_requester ON requests (requester, state);
      CREATE INDEX requests_by_username ON requests (username, state);
      CREATE INDEX ves_by_username ON ves (username, state);
    `,
  },
];

/** The newest version this code knows. */
export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((max, step) => Math.max(max, step.version), 0);
}

/**
 * Brings the database up to date in one exclusive transaction, so two bots starting at once
 * cannot both apply a step, and a failed step leaves the database as it was.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  const latest = latestVersion(migrations);
  const before = db.pragma('user_version', { simple: true }) as number;
  const rebuilds = migrations.some((step) => step.version > before && step.rebuildsTables);
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  // A no-op inside a transaction, so it is switched here, around it.
  if (rebuilds) {
    db.pragma('foreign_keys = OFF');
  }

  const apply = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > latest) {
      throw new CrewvzError(
        'crewvz.database',
        `the database is at schema version ${current} but this crewvz knows only up to ` +
          `${latest}; run a newer crewvz or restore a backup made by this version`,
      );
    }
    for (const step of [...migrations].sort((a, b) => a.version - b.version)) {
      if (step.version > current) {
        db.exec(step.up);
        db.pragma(`user_version = ${step.version}`);
      }
    }
    if (rebuilds && (db.pragma('foreign_key_check') as unknown[]).length > 0) {
      throw new CrewvzError(
        'crewvz.database',
        'a schema migration left rows pointing at missing ones; nothing was changed. Restore a ' +
          'backup or report this with the database file',
      );
    }
  });
  try {
    apply.exclusive();
  } finally {
    if (rebuilds) {
      db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
    }
  }
}
