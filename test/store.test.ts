/** The SQLite store on real temp files: pragmas, migrations, sequences, transitions, events. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { openDatabase } from '../src/store/db.ts';
import { latestVersion, MIGRATIONS } from '../src/store/migrations.ts';
import { Store } from '../src/store/index.ts';

let dir: string;
let counter = 0;

function fresh(): Store {
  counter += 1;
  return Store.open(path.join(dir, `db-${counter}.sqlite`));
}

const AT = '2026-01-01T00:00:00.000Z';
const request = { requester: 'irc:alice', username: 'alice', template: 't', at: AT, origin: null };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-store-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('store', () => {
  test('opens with WAL, foreign keys and a busy timeout, at the latest schema', () => {
    const store = fresh();
    try {
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      assert.ok((store.db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
      const latest = Math.max(...MIGRATIONS.map((m) => m.version));
      assert.equal(store.db.pragma('user_version', { simple: true }), latest);
    } finally {
      store.close();
    }
  });

  test('migrations are ordered and reopening applies nothing twice', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
    assert.equal(new Set(versions).size, versions.length);

    const file = path.join(dir, 'reopen.sqlite');
    Store.open(file).close();
    const again = Store.open(file);
    again.requests.insert(request);
    again.close();
  });

  test('refuses a database newer than the code', () => {
    const file = path.join(dir, 'newer.sqlite');
    const future = [...MIGRATIONS, { version: 999, up: 'CREATE TABLE later (x INTEGER)' }];
    openDatabase(file, { migrations: future }).close();
    assert.throws(() => Store.open(file), /schema version 999 .* run a newer crewvz/);
  });

  test('a failing migration leaves the database as it was', () => {
    const file = path.join(dir, 'broken.sqlite');
    const latest = latestVersion(MIGRATIONS);
    const step = { version: latest + 1, up: 'CREATE TABLE ok (x); NOT SQL AT ALL' };
    assert.throws(() => openDatabase(file, { migrations: [...MIGRATIONS, step] }));
    const db = openDatabase(file);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), latest);
      const table = db.prepare(`SELECT name FROM sqlite_master WHERE name = 'ok'`).get();
      assert.equal(table, undefined);
    } finally {
      db.close();
    }
  });

  test('VE IDs start at 101 and never repeat, even after a removal', () => {
    const store = fresh();
    try {
      const filed = store.requests.insert(request);
      const first = store.ves.allocateId();
      assert.equal(first, 101);
      store.ves.insert({ ...request, id: first, node: 'n', owner: 'irc:alice', requestId: filed.id,
        createdAt: AT });
      assert.ok(store.ves.markRemoved(first, AT));
      assert.equal(store.ves.allocateId(), 102);
    } finally {
      store.close();
    }
  });

  test('IDs in use on the node are skipped, and a skipped ID is used up too', () => {
    const store = fresh();
    try {
      assert.equal(store.ves.allocateId(new Set([101, 102, 104])), 103);
      assert.equal(store.ves.allocateId(), 104, '104 is free when the node does not have it');
      assert.equal(store.ves.allocateId(new Set([101])), 105, '101 was used up before');
    } finally {
      store.close();
    }
  });

  test('a VE must belong to an existing request (foreign key)', () => {
    const store = fresh();
    try {
      assert.throws(
        () =>
          store.ves.insert({ ...request, id: 101, node: 'n', owner: 'x', requestId: 42,
            createdAt: AT }),
        /FOREIGN KEY/,
      );
    } finally {
      store.close();
    }
  });

  test('a transition happens only from the state it expects', () => {
    const store = fresh();
    try {
      const filed = store.requests.insert(request);
      assert.equal(filed.state, 'pending');
      assert.ok(store.requests.transition(filed.id, 'pending', { state: 'denied', at: AT }));
      assert.equal(store.requests.transition(filed.id, 'pending', { state: 'approved', at: AT }),
        false);
      assert.equal(store.requests.get(filed.id)?.state, 'denied');
    } finally {
      store.close();
    }
  });

  test('a transaction that throws leaves no audit row behind', () => {
    const store = fresh();
    try {
      assert.throws(() =>
        store.transaction(() => {
          store.audit.add({ at: AT, actor: 'a', action: 'x', target: null, outcome: 'ok',
            detail: null });
          throw new Error('boom');
        }),
      );
      assert.equal(store.audit.recent(10).length, 0);
    } finally {
      store.close();
    }
  });

  test('an event id is claimed once', () => {
    const store = fresh();
    try {
      assert.equal(store.events.claim('slack:Ev1', AT), true);
      assert.equal(store.events.claim('slack:Ev1', AT), false);
      assert.equal(store.events.prune('2027-01-01T00:00:00.000Z'), 1);
    } finally {
      store.close();
    }
  });

  test('the hot queries use an index', () => {
    const store = fresh();
    try {
      const plan = (sql: string): string =>
        (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
          .map((row) => row.detail)
          .join(' ');
      assert.match(plan(`SELECT * FROM requests WHERE state = 'pending' AND created_at < '1'`),
        /USING INDEX requests_by_state/);
      assert.match(plan(`SELECT COUNT(*) FROM ves WHERE state = 'active' AND owner = 'x'`),
        /USING (COVERING )?INDEX ves_by_owner/);
    } finally {
      store.close();
    }
  });
});
