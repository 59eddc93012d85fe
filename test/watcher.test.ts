import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { muteVe, recentAlertLines } from '../src/watcher/queries.ts';
import { FileNode, startRig, type Rig } from './helpers/watcher-rig.ts';

const MINUTE = 60_000;
let dir: string;
let rigs: Rig[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crewvz-watcher-'));
});

afterEach(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  rigs = [];
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A node with these VEs, a fresh database, every VE owned by `irc:owner<ID>`, polled once. */
async function setUp(
  ves: string[],
  options: Parameters<typeof startRig>[2] = {},
): Promise<{ node: FileNode; rig: Rig }> {
  const here = await mkdtemp(join(dir, 'case-'));
  const node = new FileNode('node1', here, ves);
  await node.write();
  const rig = startRig(join(here, 'crewvz.db'), [node], options);
  rigs.push(rig);
  for (const ve of ves) {
    rig.owners.set(ve, `irc:owner${ve}`);
  }
  await rig.watcher.pollOnce();
  assert.deepEqual(rig.notifier.take(), [], 'a first poll only stores baselines');
  return { node, rig };
}

async function poll(rig: Rig, node: FileNode, minutesLater = 1): Promise<void> {
  await node.write();
  rig.clock.now += minutesLater * MINUTE;
  await rig.watcher.pollOnce();
}

describe('beancounter watcher', () => {
  it('reports growth on one resource among several, to the channel and the owner', async () => {
    const { node, rig } = await setUp(['101', '102']);
    node.grow('101', 'privvmpages', 3);
    await poll(rig, node);

    const sent = rig.notifier.take();
    assert.deepEqual(sent.map((message) => message.to), ['alerts', 'irc:owner101']);
    assert.deepEqual(sent[0]?.lines, [
      'Beancounters on node1: 1 VE hit a limit since the last check.',
      'VE 101 (owner irc:owner101): privvmpages +3 (held 18 MiB, barrier 192 MiB, limit 209 MiB)',
    ]);
    const text = sent[1]?.lines.join('\n') ?? '';
    assert.match(text, /memory your programs may allocate \(privvmpages\) ran out 3 times/);
    assert.match(text, /!ve set 101 privvmpages 73728:78151/);

    await poll(rig, node);
    assert.deepEqual(rig.notifier.take(), [], 'no growth, no alert');
  });

  it('lists two resources that grew in one poll in one message', async () => {
    const { node, rig } = await setUp(['101']);
    node.grow('101', 'numproc', 2);
    node.grow('101', 'numfile', 1);
    await poll(rig, node);

    const sent = rig.notifier.take();
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[0]?.lines.slice(1), [
      'VE 101 (owner irc:owner101): numfile +1 (held 238, barrier 2048, limit 2048)',
      'VE 101 (owner irc:owner101): numproc +2 (held 20, barrier 65, limit 65)',
    ]);
    assert.match(sent[1]?.lines.join('\n') ?? '', /open files.*\n.*\n- processes/);
  });

  it('stays silent on a VE restart that resets the counters, then reports growth in full',
    async () => {
      const { node, rig } = await setUp(['101']);
      node.grow('101', 'numproc', 36);
      await poll(rig, node);
      rig.notifier.take();

      node.restart('101', '2024-05-01T10:30:00.000Z');
      await poll(rig, node, 20);
      assert.deepEqual(rig.notifier.take(), [], 'the reset itself is silent');

      node.grow('101', 'numproc', 5);
      await poll(rig, node, 20);
      assert.match(rig.notifier.take()[0]?.lines[1] ?? '', /numproc \+5 /);
    });

  it('counts growth after a restart from zero when it passes the old value before a poll',
    async () => {
      const { node, rig } = await setUp(['101']);
      node.grow('101', 'numproc', 36);
      await poll(rig, node);
      rig.notifier.take();

      node.restart('101', '2024-05-01T10:30:00.000Z');
      node.grow('101', 'numproc', 40);
      await poll(rig, node, 20);
      assert.match(rig.notifier.take()[0]?.lines[1] ?? '', /numproc \+40 /);
    });

  it('reports growth in full after a restart that kept the failing row at its limit',
    async () => {
      const { node, rig } = await setUp(['101']);
      const numproc = node.row('101', 'numproc');
      numproc.held = numproc.limit;
      numproc.maxheld = numproc.limit;
      node.grow('101', 'numproc', 36);
      await poll(rig, node);
      rig.notifier.take();

      // Only the other rows' maxheld fall: numproc's stays at its limit across the restart.
      node.restart('101', '2024-05-01T10:30:00.000Z', ['numproc']);
      node.grow('101', 'numproc', 40);
      await poll(rig, node, 20);
      const sent = rig.notifier.take();
      assert.deepEqual(sent[0]?.lines.slice(1), [
        'VE 101 (owner irc:owner101): numproc +40 (held 65, barrier 65, limit 65)',
      ]);
    });

  it('stays silent on a restart the beancounter outlived, and goes on counting', async () => {
    const { node, rig } = await setUp(['101']);
    node.grow('101', 'numproc', 36);
    await poll(rig, node);
    rig.notifier.take();

    // A new start time, every counter kept: no reset, so the kept 36 is no alert.
    node.keepCountersAcrossRestart('101', '2024-05-01T10:30:00.000Z');
    await poll(rig, node, 20);
    assert.deepEqual(rig.notifier.take(), [], 'a kept counter is no growth');

    node.grow('101', 'numproc', 5);
    await poll(rig, node, 20);
    assert.match(rig.notifier.take()[0]?.lines[1] ?? '', /numproc \+5 /);
  });

  it('keeps its baseline and invents no alert when the bot restarts between polls', async () => {
    const { node, rig } = await setUp(['101']);
    node.grow('101', 'numproc', 4);
    await poll(rig, node);
    assert.equal(rig.notifier.take().length, 2);
    await rig.close();
    rigs = rigs.filter((candidate) => candidate !== rig);

    // The same SQLite file, already migrated: a new watcher as after a restart of the bot.
    const dbPath = rig.db.name;
    const again = startRig(dbPath, [node], { migrate: false, clock: rig.clock });
    rigs.push(again);
    again.owners.set('101', 'irc:owner101');
    await poll(again, node);
    assert.deepEqual(again.notifier.take(), []);

    // Growth while the bot was down is growth all the same, measured from the kept baseline.
    node.grow('101', 'numproc', 2);
    await poll(again, node, 30);
    assert.match(again.notifier.take()[0]?.lines[1] ?? '', /numproc \+2 /);
  });

  it('sends one bounded channel message and one short message per owner for 20 VEs',
    async () => {
      const ves = Array.from({ length: 20 }, (_, index) => String(101 + index));
      const { node, rig } = await setUp(ves);
      for (const ve of ves.slice(2)) {
        rig.owners.set(ve, 'irc:many');
      }
      for (const ve of ves) {
        node.grow(ve, 'numtcpsock', 1);
      }
      await poll(rig, node);

      const sent = rig.notifier.take();
      assert.deepEqual(sent.map((message) => message.to),
        ['alerts', 'irc:owner101', 'irc:owner102', 'irc:many']);
      const channel = sent[0]?.lines ?? [];
      assert.equal(channel[0], 'Beancounters on node1: 20 VEs hit a limit since the last check.');
      assert.deepEqual(channel.slice(1, 11).map((line) => line.split(' ')[1]), ves.slice(0, 10));
      assert.deepEqual(channel.slice(11), ['…and 10 more: !alerts 20 shows them all.']);

      // What the channel points to lists every one of them.
      const listed = recentAlertLines(rig.store, rig.clock.now, 20).join('\n');
      for (const ve of ves) {
        assert.match(listed, new RegExp(`node1 VE ${ve} numtcpsock \\+1`));
      }

      assert.deepEqual(sent[3]?.lines, [
        'Your VEs 103, 104, 105, 106, 107 and 13 more on node1 ran out of something since the' +
          ' last check:',
        '- TCP connections (numtcpsock) ran out 18 times on 18 VEs: programs could not open' +
          ' more network connections or sockets.',
        "  Ask the crew to raise what ran out; !ve ubc ID shows a VE's values and limits.",
      ]);
      assert.match(sent[1]?.lines.join('\n') ?? '', /!ve set 101 numtcpsock \d+:\d+/);
    });

  it('says once that a node is unreachable after 3 failed polls, and once that it is back',
    async () => {
      const { node, rig } = await setUp(['101']);
      node.down = true;
      await poll(rig, node);
      await poll(rig, node);
      assert.deepEqual(rig.notifier.take(), []);

      await poll(rig, node);
      assert.deepEqual(rig.notifier.take(), [{
        to: 'alerts',
        lines: ['Node node1 is unreachable: 3 polls in a row failed (last: the node cannot be' +
          ' reached). Beancounter alerts for its VEs wait until it answers again.'],
      }]);
      await poll(rig, node);
      assert.deepEqual(rig.notifier.take(), []);

      node.down = false;
      node.grow('101', 'numflock', 2);
      await poll(rig, node);
      const sent = rig.notifier.take();
      assert.deepEqual(sent[0]?.lines, [
        'Node node1 answers again after 4 minutes; beancounter alerts for it resume.',
      ]);
      assert.match(sent[1]?.lines[1] ?? '', /numflock \+2 /);
      await poll(rig, node);
      assert.deepEqual(rig.notifier.take(), []);
    });

  it('reports a VE the bot does not manage once, and its growth without a private message',
    async () => {
      const here = await mkdtemp(join(dir, 'case-'));
      const node = new FileNode('node1', here, ['101', '555']);
      await node.write();
      const rig = startRig(join(here, 'crewvz.db'), [node]);
      rigs.push(rig);
      rig.owners.set('101', 'irc:owner101');

      await rig.watcher.pollOnce();
      assert.deepEqual(rig.notifier.take(), [{
        to: 'alerts',
        lines: ['VEs on node1 that the bot does not manage: 555.'],
      }]);
      await poll(rig, node);
      assert.deepEqual(rig.notifier.take(), []);

      node.grow('555', 'numpty', 1);
      await poll(rig, node);
      const sent = rig.notifier.take();
      assert.deepEqual(sent.map((message) => message.to), ['alerts']);
      assert.match(sent[0]?.lines[1] ?? '', /^VE 555 \(unmanaged\): numpty \+1 /);
    });

  it('holds growth back during the cooldown and sums it into the next message', async () => {
    const { node, rig } = await setUp(['101']);
    node.grow('101', 'numproc', 1);
    await poll(rig, node);
    assert.equal(rig.notifier.take().length, 2);

    node.grow('101', 'numproc', 2);
    await poll(rig, node, 5);
    node.grow('101', 'numproc', 3);
    await poll(rig, node, 5);
    assert.deepEqual(rig.notifier.take(), [], 'inside the 15-minute cooldown');

    // No new growth, but the cooldown is over: what was held back goes out.
    await poll(rig, node, 6);
    const sent = rig.notifier.take();
    assert.match(sent[0]?.lines[1] ?? '', /numproc \+5 /);
    assert.match(sent[1]?.lines.join('\n') ?? '', /processes \(numproc\) ran out 5 times/);
  });

  it('sends nothing for a muted VE until the mute ends', async () => {
    const { node, rig } = await setUp(['101', '102']);
    muteVe(rig.store, { ve: '101', duration: '1h', by: 'irc:crew', now: rig.clock.now });
    node.grow('101', 'numproc', 1);
    node.grow('102', 'numproc', 1);
    await poll(rig, node);

    const sent = rig.notifier.take();
    assert.deepEqual(sent.map((message) => message.to), ['alerts', 'irc:owner102']);
    assert.doesNotMatch(sent[0]?.lines.join('\n') ?? '', /VE 101/);

    node.grow('101', 'numproc', 4);
    await poll(rig, node, 60);
    assert.match(rig.notifier.take()[0]?.lines[1] ?? '', /VE 101 .*numproc \+4 /);
  });

  it('reads a real host file: high absolute counters and the host block raise nothing',
    async () => {
      const here = await mkdtemp(join(dir, 'case-'));
      const node = FileNode.fromFixture('node1', here, 'synthetic-host-first.txt');
      await node.write();
      const rig = startRig(join(here, 'crewvz.db'), [node]);
      rigs.push(rig);
      for (const ve of ['123', '9833', '10000101']) {
        rig.owners.set(ve, `irc:owner${ve}`);
      }

      // CT 10000101 starts with numproc failcnt 27: old news, not an alert.
      await rig.watcher.pollOnce();
      assert.deepEqual(rig.notifier.take(), []);

      node.grow('0', 'numproc', 9);
      node.grow('10000101', 'numproc', 2);
      await poll(rig, node);
      const sent = rig.notifier.take();
      assert.deepEqual(sent[0]?.lines.slice(1), [
        'VE 10000101 (owner irc:owner10000101): numproc +2 (held 512, barrier 512, limit 512)',
      ]);
      assert.deepEqual(sent.map((message) => message.to), ['alerts', 'irc:owner10000101']);
    });

  it('watches OpenVZ 7 beancounters named by strings', async () => {
    const here = await mkdtemp(join(dir, 'case-'));
    const node = FileNode.fromFixture('node1', here, 'synthetic-vz7-names.txt');
    await node.write();
    const rig = startRig(join(here, 'crewvz.db'), [node]);
    rigs.push(rig);
    const uuid = '7d4c1f5e-0b9a-4f2e-9a3d-5c8e6b2a1f00';
    for (const ve of ['1001', 'webstudent42', uuid]) {
      rig.owners.set(ve, 'irc:alice');
    }
    await rig.watcher.pollOnce();
    assert.deepEqual(rig.notifier.take(), []);

    node.grow('webstudent42', 'numfile', 4);
    node.grow(uuid, 'numproc', 1);
    await poll(rig, node);
    const sent = rig.notifier.take();
    assert.deepEqual(sent.map((message) => message.to), ['alerts', 'irc:alice']);
    assert.deepEqual(sent[0]?.lines.map((line) => line.split(' (')[0]), [
      'Beancounters on node1: 2 VEs hit a limit since the last check.',
      `VE ${uuid}`,
      'VE webstudent42',
    ]);
    const advice = sent[1]?.lines.join('\n') ?? '';
    assert.match(advice, new RegExp(`!ve set ${uuid} numproc 1650:1650`));
    assert.match(advice, /open files \(numfile\) ran out 4 times.*\n.*unlimited already/);
  });

  it('lists recent alerts for !alerts from what the watcher stored', async () => {
    const { node, rig } = await setUp(['101']);
    node.grow('101', 'numproc', 2);
    await poll(rig, node);

    const [latest] = rig.store.recentAlerts(1);
    assert.deepEqual(
      { kind: latest?.kind, ve: latest?.ve, resource: latest?.resource, delta: latest?.delta },
      { kind: 'growth', ve: '101', resource: 'numproc', delta: 2 },
    );
  });
});
