/**
 * Which VEs the watcher counts as the bot's, read from the bot's real store: a VE whose request
 * is still being provisioned shows in `ubc` minutes before its VE record exists, and must not be
 * reported as unmanaged; a VE that disappears is forgotten, so a new one with its ID is judged
 * afresh.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Store } from '../src/store/index.ts';
import { ownersFromStore } from '../src/watcher/wiring.ts';
import { FileNode, START, startRig, type Rig } from './helpers/watcher-rig.ts';

const MINUTE = 60_000;
const OWNER = 'irc:alice';
let dir: string;
let store: Store;
let node: FileNode;
let rig: Rig;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crewvz-watcher-owners-'));
  store = Store.open(join(dir, 'bot.db'));
  node = new FileNode('node1', dir, []);
  await node.write();
  rig = startRig(join(dir, 'watcher.db'), [node], { owners: ownersFromStore(store) });
  await rig.watcher.pollOnce();
});

after(async () => {
  await rig.close();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

async function poll(minutesLater = 1): Promise<string[][]> {
  await node.write();
  rig.clock.now += minutesLater * MINUTE;
  await rig.watcher.pollOnce();
  return rig.notifier.take().map((message) => [message.to, ...message.lines]);
}

/** A request approved for VE `id` on node1 and being provisioned; returns its number. */
function provisioning(id: number): number {
  const at = START;
  const request = store.requests.insert({
    requester: OWNER, username: 'alice', template: 'debian', at, origin: null,
  });
  assert.ok(store.requests.transition(request.id, 'pending', {
    state: 'approved', at, veId: id, node: 'node1',
  }));
  assert.ok(store.requests.transition(request.id, 'approved', { state: 'provisioning', at }));
  return request.id;
}

function activate(request: number, id: number): void {
  const at = START;
  assert.ok(store.requests.transition(request, 'provisioning', { state: 'active', at }));
  store.ves.insert({
    id, node: 'node1', owner: OWNER, username: 'alice', template: 'debian', requestId: request,
    createdAt: at,
  });
}

describe('watcher ownership from the bot store', () => {
  it('treats a VE being provisioned as the bot\'s, silent until its VE record is active',
    async () => {
      const request = provisioning(101);
      node.addVe('101');
      assert.deepEqual(await poll(), [], 'not unmanaged while its request is provisioning');

      // The create starts the VE and installs packages: not the owner's doing, not an alert.
      node.grow('101', 'numproc', 3);
      assert.deepEqual(await poll(), []);

      activate(request, 101);
      assert.deepEqual(await poll(), [], 'growth before it was active stays unreported');
      node.grow('101', 'numproc', 2);
      const sent = await poll();
      assert.deepEqual(sent.map((message) => message[0]), ['alerts', OWNER]);
      assert.match(sent[0]?.[2] ?? '', /^VE 101 \(owner irc:alice\): numproc \+2 /);
      assert.deepEqual(rig.store.recentAlerts(5).map((alert) => alert.kind), ['growth']);
    });

  it('counts a VE on another node than its request\'s as unmanaged', async () => {
    const at = START;
    const request = store.requests.insert({
      requester: OWNER, username: 'alice', template: 'debian', at, origin: null,
    });
    store.requests.transition(request.id, 'pending', {
      state: 'approved', at, veId: 102, node: 'node2',
    });
    node.addVe('102');
    assert.deepEqual(await poll(), [
      ['alerts', 'VEs on node1 that the bot does not manage: 102.'],
    ]);
    node.removeVe('102');
    assert.deepEqual(await poll(), []);
  });

  it('forgets an unmanaged VE that is gone, so a new VE with its ID is judged afresh',
    async () => {
      node.addVe('555');
      assert.deepEqual(await poll(), [
        ['alerts', 'VEs on node1 that the bot does not manage: 555.'],
      ]);
      assert.deepEqual(await poll(), [], 'reported once');

      node.removeVe('555');
      assert.deepEqual(await poll(), []);
      node.addVe('555', '2024-05-01T12:00:00.000Z');
      assert.deepEqual(await poll(), [
        ['alerts', 'VEs on node1 that the bot does not manage: 555.'],
      ]);
    });
});
