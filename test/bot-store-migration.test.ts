/**
 * Migration 3 rebuilds the requests table so a request may be filed without a template. A
 * database from before it keeps every row, its request numbering and its foreign keys.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { openDatabase } from '../src/store/db.ts';
import { Store } from '../src/store/index.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';

let dir = '';

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a version 2 database keeps its rows, numbering and foreign keys', async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-migration-'));
  const file = path.join(dir, 'crewvz.db');
  const before3 = MIGRATIONS.filter((m) => m.version <= 2);
  const old = new Store(openDatabase(file, { migrations: before3 }));
  const at = new Date().toISOString();
  for (const requester of ['shell:a', 'shell:b', 'shell:c']) {
    const username = requester.slice(6);
    old.requests.insert({ requester, username, template: 't1', at, origin: null });
  }
  old.requests.transition(2, 'pending', { state: 'approved', at, veId: 101, node: 'node1' });
  old.requests.transition(2, 'approved', { state: 'provisioning', at });
  old.requests.transition(2, 'provisioning', { state: 'active', at });
  const veId = old.ves.allocateId();
  old.ves.insert({ id: veId, node: 'node1', owner: 'shell:b', username: 'b', template: 't1',
    requestId: 2, createdAt: at });
  old.close();

  const store = Store.open(file);
  try {
    assert.equal(store.db.pragma('user_version', { simple: true }), 3);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    assert.deepEqual(store.requests.inStates(['pending']).map((r) => r.id), [1, 3]);
    assert.equal(store.requests.get(2)?.veId, 101);
    assert.equal(store.ves.get(veId)?.requestId, 2);

    const filed = store.requests.insert({
      requester: 'shell:d', username: 'd', template: null, at, origin: null,
    });
    assert.equal(filed.id, 4);
    assert.equal(filed.template, null);
    store.requests.transition(4, 'pending', { state: 'approved', at, template: 't2' });
    assert.equal(store.requests.get(4)?.template, 't2');
    assert.throws(
      () => store.ves.insert({ id: 999, node: 'n', owner: 'x', username: 'x', template: 't',
        requestId: 77, createdAt: at }),
      /FOREIGN KEY/,
    );
  } finally {
    store.close();
  }
});
