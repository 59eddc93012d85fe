/**
 * The watcher's state in SQLite, on the bot's own database. The schema is exported as one
 * migration for the store's ordered list; this module never creates tables itself.
 * Times are epoch milliseconds; an unlimited maxheld is stored as NULL.
 */
import type { Database } from 'better-sqlite3';
import { UNLIMITED, type UbcValue } from '../../agent/protocol.ts';
import {
  resourceKey,
  splitResourceKey,
  type AlertRecord,
  type Baseline,
  type BaselineStore,
  type CooldownState,
  type Mute,
  type NodeChanges,
  type NodeHealth,
  type NodeSnapshot,
} from './types.ts';

export const WATCHER_MIGRATION_SQL = `
CREATE TABLE watcher_baselines (
  node TEXT NOT NULL,
  ve TEXT NOT NULL,
  resource TEXT NOT NULL,
  failcnt INTEGER NOT NULL,
  maxheld INTEGER,
  started_at TEXT,
  PRIMARY KEY (node, ve, resource)
);
CREATE TABLE watcher_cooldowns (
  node TEXT NOT NULL,
  ve TEXT NOT NULL,
  resource TEXT NOT NULL,
  last_sent_at INTEGER,
  held_back INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (node, ve, resource)
);
CREATE TABLE watcher_nodes (
  node TEXT PRIMARY KEY,
  failures INTEGER NOT NULL DEFAULT 0,
  failing_since INTEGER,
  alerted_at INTEGER
);
CREATE TABLE watcher_unmanaged (
  node TEXT NOT NULL,
  ve TEXT NOT NULL,
  PRIMARY KEY (node, ve)
);
CREATE TABLE watcher_mutes (
  ve TEXT PRIMARY KEY,
  until INTEGER NOT NULL,
  by TEXT NOT NULL
);
CREATE TABLE watcher_alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  node TEXT NOT NULL,
  ve TEXT,
  resource TEXT,
  delta INTEGER,
  owner TEXT
);
CREATE INDEX watcher_alerts_at ON watcher_alerts (at);
`;

/** Alerts older than the newest this many are dropped, so the table cannot grow without end. */
export const KEEP_ALERTS = 1000;

interface BaselineRow {
  ve: string;
  resource: string;
  failcnt: number;
  maxheld: number | null;
  started_at: string | null;
}

interface CooldownRow {
  ve: string;
  resource: string;
  last_sent_at: number | null;
  held_back: number;
}

/** The alerts table's columns are named as the record's fields. */
type AlertRow = AlertRecord;

export class SqliteBaselineStore implements BaselineStore {
  constructor(private readonly db: Database) {}

  loadNode(node: string): NodeSnapshot {
    const baselines = new Map<string, Baseline>();
    const rows = this.db
      .prepare(
        'SELECT ve, resource, failcnt, maxheld, started_at FROM watcher_baselines WHERE node = ?',
      )
      .all(node) as BaselineRow[];
    for (const row of rows) {
      baselines.set(resourceKey(row.ve, row.resource), {
        failcnt: row.failcnt,
        maxheld: row.maxheld ?? UNLIMITED,
        startedAt: row.started_at,
      });
    }

    const cooldowns = new Map<string, CooldownState>();
    const states = this.db
      .prepare('SELECT ve, resource, last_sent_at, held_back FROM watcher_cooldowns WHERE node = ?')
      .all(node) as CooldownRow[];
    for (const row of states) {
      cooldowns.set(resourceKey(row.ve, row.resource), {
        lastSentAt: row.last_sent_at,
        heldBack: row.held_back,
      });
    }

    const health = this.db
      .prepare(
        `SELECT failures, failing_since AS failingSince, alerted_at AS alertedAt
         FROM watcher_nodes WHERE node = ?`,
      )
      .get(node) as NodeHealth | undefined;
    const unmanaged = this.db
      .prepare('SELECT ve FROM watcher_unmanaged WHERE node = ?')
      .pluck()
      .all(node) as string[];

    return {
      baselines,
      cooldowns,
      health: health ?? { failures: 0, failingSince: null, alertedAt: null },
      unmanaged: new Set(unmanaged),
    };
  }

  saveNode(node: string, changes: NodeChanges): void {
    const write = this.db.transaction(() => {
      this.writeBaselines(node, changes.baselines);
      this.writeCooldowns(node, changes.cooldowns);
      if (changes.health) {
        this.db
          .prepare(
            `INSERT INTO watcher_nodes (node, failures, failing_since, alerted_at)
             VALUES (@node, @failures, @failingSince, @alertedAt)
             ON CONFLICT (node) DO UPDATE SET failures = excluded.failures,
               failing_since = excluded.failing_since, alerted_at = excluded.alerted_at`,
          )
          .run({ node, ...changes.health });
      }
      const add = this.db.prepare(
        'INSERT OR IGNORE INTO watcher_unmanaged (node, ve) VALUES (?, ?)',
      );
      for (const ve of changes.unmanagedAdded ?? []) {
        add.run(node, ve);
      }
      const remove = this.db.prepare('DELETE FROM watcher_unmanaged WHERE node = ? AND ve = ?');
      for (const ve of changes.unmanagedRemoved ?? []) {
        remove.run(node, ve);
      }
      this.writeAlerts(changes.alerts ?? []);
    });
    write.immediate();
  }

  activeMutes(now: number): Map<string, Mute> {
    const rows = this.db
      .prepare('SELECT ve, until, by FROM watcher_mutes WHERE until > ?')
      .all(now) as Mute[];
    return new Map(rows.map((mute) => [mute.ve, mute]));
  }

  putMute(mute: Mute): void {
    this.db
      .prepare(
        `INSERT INTO watcher_mutes (ve, until, by) VALUES (?, ?, ?)
         ON CONFLICT (ve) DO UPDATE SET until = excluded.until, by = excluded.by`,
      )
      .run(mute.ve, mute.until, mute.by);
  }

  recentAlerts(limit: number): AlertRecord[] {
    return this.db
      .prepare(
        `SELECT at, kind, node, ve, resource, delta, owner FROM watcher_alerts
         ORDER BY at DESC, id DESC LIMIT ?`,
      )
      .all(limit) as AlertRow[];
  }

  private writeBaselines(node: string, baselines: Map<string, Baseline> | undefined): void {
    const put = this.db.prepare(
      `INSERT INTO watcher_baselines (node, ve, resource, failcnt, maxheld, started_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (node, ve, resource) DO UPDATE SET failcnt = excluded.failcnt,
         maxheld = excluded.maxheld, started_at = excluded.started_at`,
    );
    for (const [key, baseline] of baselines ?? []) {
      const { ve, resource } = splitResourceKey(key);
      put.run(node, ve, resource, baseline.failcnt, storedMaxheld(baseline.maxheld),
        baseline.startedAt);
    }
  }

  private writeCooldowns(node: string, states: Map<string, CooldownState> | undefined): void {
    const put = this.db.prepare(
      `INSERT INTO watcher_cooldowns (node, ve, resource, last_sent_at, held_back)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (node, ve, resource) DO UPDATE SET last_sent_at = excluded.last_sent_at,
         held_back = excluded.held_back`,
    );
    for (const [key, state] of states ?? []) {
      const { ve, resource } = splitResourceKey(key);
      put.run(node, ve, resource, state.lastSentAt, state.heldBack);
    }
  }

  private writeAlerts(alerts: readonly AlertRecord[]): void {
    if (alerts.length === 0) {
      return;
    }
    const insert = this.db.prepare(
      `INSERT INTO watcher_alerts (at, kind, node, ve, resource, delta, owner)
       VALUES (@at, @kind, @node, @ve, @resource, @delta, @owner)`,
    );
    for (const alert of alerts) {
      insert.run(alert);
    }
    this.db
      .prepare(
        `DELETE FROM watcher_alerts WHERE id <= (
           SELECT id FROM watcher_alerts ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      )
      .run(KEEP_ALERTS);
  }
}

/** SQLite integers are 64-bit, but a JS number past 2^53 is not exact: keep NULL = unlimited. */
function storedMaxheld(value: UbcValue): number | null {
  return value === UNLIMITED ? null : value;
}
