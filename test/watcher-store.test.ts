import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { UserFacingError } from '../src/errors.ts';
import { muteVe, parseDuration, recentAlertLines } from '../src/watcher/queries.ts';
import {
  KEEP_ALERTS,
  SqliteBaselineStore,
  WATCHER_MIGRATION_SQL,
} from '../src/watcher/sqlite-store.ts';
import { resourceKey, type AlertRecord } from '../src/watcher/types.ts';

const MINUTE = 60_000;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crewvz-watcher-store-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(name: string): { db: Database.Database; store: SqliteBaselineStore } {
  const db = new Database(join(dir, name));
  return { db, store: new SqliteBaselineStore(db) };
}

function growth(at: number, ve: string, delta: number): AlertRecord {
  return { at, kind: 'growth', node: 'node1', ve, resource: 'numproc', delta, owner: 'irc:alice' };
}

describe('SqliteBaselineStore', () => {
  it('returns an empty snapshot for a node never seen', () => {
    const { db, store } = open('empty.db');
    db.exec(WATCHER_MIGRATION_SQL);

    const snapshot = store.loadNode('node1');
    assert.equal(snapshot.baselines.size, 0);
    assert.deepEqual(snapshot.health, { failures: 0, failingSince: null, alertedAt: null });
    db.close();
  });

  it('keeps baselines, cooldowns, health and unmanaged VEs across a reopen of the file', () => {
    const first = open('reopen.db');
    first.db.exec(WATCHER_MIGRATION_SQL);
    const key = resourceKey('101', 'privvmpages');
    first.store.saveNode('node1', {
      baselines: new Map([
        [key, { failcnt: 36, maxheld: 7289, startedAt: '2024-05-01T10:00:00.000Z' }],
        [resourceKey('101', 'numproc'), { failcnt: 0, maxheld: 'unlimited', startedAt: null }],
      ]),
      cooldowns: new Map([[key, { lastSentAt: 5, heldBack: 2 }]]),
      health: { failures: 2, failingSince: 7, alertedAt: null },
      unmanagedAdded: ['555', '556'],
    });
    first.store.saveNode('node1', { unmanagedRemoved: ['556'] });
    first.db.close();

    const second = open('reopen.db');
    const snapshot = second.store.loadNode('node1');
    assert.deepEqual(snapshot.baselines.get(key), {
      failcnt: 36, maxheld: 7289, startedAt: '2024-05-01T10:00:00.000Z',
    });
    assert.equal(snapshot.baselines.get(resourceKey('101', 'numproc'))?.maxheld, 'unlimited');
    assert.deepEqual(snapshot.cooldowns.get(key), { lastSentAt: 5, heldBack: 2 });
    assert.deepEqual(snapshot.health, { failures: 2, failingSince: 7, alertedAt: null });
    assert.deepEqual([...snapshot.unmanaged], ['555']);
    assert.equal(second.store.loadNode('node2').baselines.size, 0);
    second.db.close();
  });

  it('writes nothing of a poll when part of it fails', () => {
    const { db, store } = open('atomic.db');
    db.exec(WATCHER_MIGRATION_SQL);
    const broken = { ...growth(1, '101', 1), kind: null } as unknown as AlertRecord;

    const baseline = { failcnt: 1, maxheld: 1, startedAt: null };
    const baselines = new Map([[resourceKey('101', 'numproc'), baseline]]);

    assert.throws(() => store.saveNode('node1', { baselines, alerts: [broken] }), /NOT NULL/);
    assert.equal(store.loadNode('node1').baselines.size, 0);
    db.close();
  });

  it('lists recent alerts newest first and keeps only the newest ones', () => {
    const { db, store } = open('alerts.db');
    db.exec(WATCHER_MIGRATION_SQL);
    const many = Array.from({ length: KEEP_ALERTS + 5 }, (_, index) => growth(index, '101', 1));
    store.saveNode('node1', { alerts: many });

    const recent = store.recentAlerts(2);
    assert.deepEqual(recent.map((alert) => alert.at), [KEEP_ALERTS + 4, KEEP_ALERTS + 3]);
    const count = db.prepare('SELECT COUNT(*) FROM watcher_alerts').pluck().get();
    assert.equal(count, KEEP_ALERTS);
    db.close();
  });
});

describe('watcher queries', () => {
  it('parses 30m, 2h and 1d', () => {
    assert.equal(parseDuration('30m'), 30 * MINUTE);
    assert.equal(parseDuration('2h'), 120 * MINUTE);
    assert.equal(parseDuration('1D'), 24 * 60 * MINUTE);
  });

  it('refuses other forms with the accepted ones', () => {
    for (const text of ['30', '0m', '1.5h', '2 weeks', '-1d', '31d', '']) {
      assert.throws(() => parseDuration(text), (error: unknown) => {
        assert.ok(error instanceof UserFacingError, text);
        assert.match(error.message, /like 30m, 2h or 1d \(at most 30d\)/);
        return true;
      });
    }
  });

  it('mutes a VE until a time, and the mute shows in the alert list', () => {
    const { db, store } = open('mute.db');
    db.exec(WATCHER_MIGRATION_SQL);
    const now = Date.parse('2024-05-01T10:00:00.000Z');

    const reply = muteVe(store, { ve: '101', duration: '2h', by: 'irc:bob', now });
    assert.match(reply[0] ?? '', /^Beancounter alerts for VE 101 are muted for 2 hours, until /);
    assert.equal(store.activeMutes(now).get('101')?.until, now + 120 * MINUTE);
    assert.equal(store.activeMutes(now + 121 * MINUTE).size, 0);

    muteVe(store, { ve: '101', duration: '30m', by: 'irc:alice', now });
    assert.deepEqual(store.activeMutes(now).get('101'), {
      ve: '101', until: now + 30 * MINUTE, by: 'irc:alice',
    });
    const listed = recentAlertLines(store, now).join('\n');
    assert.match(listed, /VE 101 is muted until .* \(by irc:alice\)/);
    db.close();
  });

  it('lists recent alerts with how long ago they happened', () => {
    const { db, store } = open('recent.db');
    db.exec(WATCHER_MIGRATION_SQL);
    const now = 100 * MINUTE;
    assert.deepEqual(recentAlertLines(store, now), ['No beancounter alerts yet.']);

    store.saveNode('node1', {
      alerts: [
        growth(now - 5 * MINUTE, '101', 3),
        { at: now - 2 * MINUTE, kind: 'unreachable', node: 'node2', ve: null, resource: null,
          delta: null, owner: null },
      ],
    });
    assert.deepEqual(recentAlertLines(store, now), [
      '2 minutes ago: node2 unreachable',
      '5 minutes ago: node1 VE 101 numproc +3 (owner irc:alice)',
    ]);
    db.close();
  });
});
