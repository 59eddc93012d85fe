/**
 * Beancounter alerts end to end: a real agent child process (sim driver, its load off) whose
 * beancounters file the test rewrites between polls, the real AgentClient over mutual TLS, the
 * real bot on a real SQLite file, and the real shell adapter printing to a captured terminal.
 * The tests run in order on one agent and share its VEs; each moves the clock past the cooldown
 * of what the test before it alerted.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import type { BeancounterBlock } from '../agent/beancounters.ts';
import {
  ADMIN,
  addForeignVe,
  editBeancounters,
  grow,
  startAlertsBot,
  startQuietAgent,
  type AlertsBot,
  type QuietAgent,
} from './helpers/alerts-rig.ts';

type Edit = (blocks: BeancounterBlock[]) => void;

const MINUTE = 60_000;
const HEADER = 'Beancounters on node1:';
const ALICE = 'shell:alice';
const BOB = 'shell:bob';
const MANY = 'shell:many';
const CREW = 'shell:crew';

let agent: QuietAgent;
let rig: AlertsBot;
const clock = { now: new Date('2025-03-01T10:00:00Z') };
const dirs: string[] = [];

function later(minutes: number): void {
  clock.now = new Date(clock.now.getTime() + minutes * MINUTE);
}

async function startBot(dir?: string): Promise<AlertsBot> {
  const started = await startAlertsBot({
    port: agent.port,
    clock,
    quotas: { activeVes: 25, pendingRequests: 1 },
    alerts: { unreachableAfter: 2 },
    ...(dir === undefined ? {} : { dir }),
  });
  dirs.push(started.dir);
  return started;
}

/** Files and approves a VE for `owner`; returns its ID. */
async function makeVe(owner: string): Promise<string> {
  const filed = (await rig.say(owner, '!ve create')).join('\n');
  const request = /request #(\d+) filed/.exec(filed)?.[1];
  assert.ok(request, filed);
  const approved = (await rig.say(ADMIN, `!approve ${request}`)).join('\n');
  const ve = /VE (\d+) is active/.exec(approved)?.[1];
  assert.ok(ve, approved);
  return ve;
}

/** Rewrites the agent's beancounters, moves the clock, polls; returns what the terminal got. */
async function pollAfter(minutes: number, edit?: Edit): Promise<string[][]> {
  if (edit !== undefined) {
    await editBeancounters(agent.ubcFile, edit);
  }
  later(minutes);
  rig.screen.take();
  await rig.poll();
  return rig.screen.take();
}

before(async () => {
  agent = await startQuietAgent();
  rig = await startBot();
  assert.equal(await makeVe(ALICE), '101');
  assert.equal(await makeVe(BOB), '102');
  await rig.poll();
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('beancounter alerts end to end', () => {
  test('growth on one resource among several: one channel and one owner message', async () => {
    const shown = await pollAfter(1, (blocks) => grow(blocks, '101', 'privvmpages', 3));

    assert.equal(shown.length, 2, JSON.stringify(shown));
    const [channel, owner] = shown;
    assert.equal(channel?.length, 2);
    assert.equal(channel[0], `[alerts] ${HEADER} 1 VE hit a limit since the last check.`);
    assert.match(
      channel[1] ?? '',
      new RegExp(
        String.raw`^\[alerts\] VE 101 \(owner shell:alice\): privvmpages \+3 ` +
          String.raw`\(held [\d.]+ \S+, barrier 256 MiB, limit 272 MiB\)$`,
      ),
    );
    const told = owner?.join('\n') ?? '';
    assert.match(owner?.[0] ?? '', /^\[to shell:alice\] Your VE 101 on node1 ran out/);
    assert.match(told, /memory your programs may allocate \(privvmpages\) ran out 3 times/);
    assert.match(told, /!ve set 101 privvmpages \d+:\d+/);
    assert.doesNotMatch(told, /shell:bob|VE 102/);

    assert.deepEqual(await pollAfter(1), [], 'no growth, no alert');
  });

  test('two resources in one poll are one message', async () => {
    const shown = await pollAfter(1, (blocks) => {
      grow(blocks, '101', 'numproc', 2);
      grow(blocks, '101', 'numfile', 1);
    });

    assert.equal(shown.length, 2, JSON.stringify(shown));
    assert.deepEqual(shown[0]?.slice(1).map((line) => line.replace(/ \(held.*/, '')), [
      '[alerts] VE 101 (owner shell:alice): numfile +1',
      '[alerts] VE 101 (owner shell:alice): numproc +2',
    ]);
    assert.match(shown[1]?.join('\n') ?? '', /numfile.*\n(.*\n)*.*numproc/);
  });

  test('a counter reset is silent; growth after it is reported in full', async () => {
    assert.match((await rig.say(ALICE, '!ve restart 101')).join('\n'), /VE 101: running/);
    assert.deepEqual(await pollAfter(20), [], 'the restart itself is no alert');

    const grown = await pollAfter(1, (blocks) => grow(blocks, '101', 'numproc', 5));
    assert.match(grown[0]?.[1] ?? '', /VE 101 .*: numproc \+5 /);

    // Restarted and grown again between two polls: the counter fell from 5 to 2, yet 2 grew.
    await rig.say(ALICE, '!ve restart 101');
    const again = await pollAfter(20, (blocks) => grow(blocks, '101', 'numproc', 2));
    assert.equal(again.length, 2, JSON.stringify(again));
    assert.match(again[0]?.[1] ?? '', /VE 101 .*: numproc \+2 /);
  });

  test('a bot restart between polls keeps the baseline and invents nothing', async () => {
    const dir = rig.dir;
    await rig.stop();
    await editBeancounters(agent.ubcFile, (blocks) => grow(blocks, '102', 'numfile', 2));
    later(20);
    rig = await startBot(dir);

    // The new bot's first poll ran as it started: only what grew while it was down.
    const shown = rig.screen.take();
    assert.equal(shown.length, 2, JSON.stringify(shown));
    assert.deepEqual(shown[0]?.slice(1).map((line) => line.replace(/ \(held.*/, '')), [
      '[alerts] VE 102 (owner shell:bob): numfile +2',
    ]);
    assert.match(shown[1]?.[0] ?? '', /^\[to shell:bob\] Your VE 102/);
    assert.deepEqual(await pollAfter(1), []);
  });

  test('20 VEs growing in one poll give one channel message', async () => {
    const made: string[] = [];
    for (let count = 0; count < 18; count += 1) {
      made.push(await makeVe(MANY));
    }
    assert.deepEqual(await pollAfter(1), [], 'new VEs only get a baseline');

    const ves = ['101', '102', ...made];
    const shown = await pollAfter(20, (blocks) => {
      for (const ve of ves) {
        grow(blocks, ve, 'kmemsize', 1);
      }
    });
    const channel = shown.filter((message) => message[0]?.startsWith('[alerts]'));
    assert.equal(channel.length, 1, JSON.stringify(shown));
    const header = `[alerts] ${HEADER} 20 VEs hit a limit since the last check.`;
    assert.equal(channel[0]?.[0], header);
    assert.equal(channel[0]?.length, 12, 'the header, 10 items, and how to see the rest');
    assert.equal(channel[0]?.[11], '[alerts] …and 10 more: !alerts 20 shows them all.');
    const owners = shown.filter((message) => message[0]?.startsWith('[to ')).map((m) => m[0]);
    assert.equal(owners.length, 3, 'one private message per owner');
    const many = shown.find((message) => message[0]?.startsWith('[to shell:many]')) ?? [];
    assert.ok(many.length <= 6, many.join('\n'));
    assert.match(many.join('\n'), /kmemsize\) ran out 18 times on 18 VEs/);

    const listed = (await rig.say(CREW, '!alerts 20')).join('\n');
    for (const ve of ves) {
      assert.match(listed, new RegExp(`node1 VE ${ve} kmemsize \\+1 `));
    }
  });

  test('a node down then back: one unreachable alert, one back message', async () => {
    await agent.stop();
    try {
      assert.deepEqual(await pollAfter(1), [], 'one failed poll is not yet an alert');
      assert.deepEqual(await pollAfter(1), [[
        '[alerts] Node node1 is unreachable: 2 polls in a row failed (last: the node cannot be ' +
          'reached). Beancounter alerts for its VEs wait until it answers again.',
      ]]);
      assert.deepEqual(await pollAfter(1), [], 'said once');
      await editBeancounters(agent.ubcFile, (blocks) => grow(blocks, '102', 'numproc', 1));
    } finally {
      await agent.start();
    }

    // The client redials with backoff: poll until the node answers, at most 10 s.
    let shown: string[][] = [];
    for (let attempt = 0; attempt < 40 && shown.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      shown = await pollAfter(0);
    }
    const back = /^\[alerts\] Node node1 answers again after \d+ minutes?; beancounter alerts/;
    assert.match(shown[0]?.[0] ?? '', back);
    assert.match(shown[1]?.[1] ?? '', /^\[alerts\] VE 102 \(owner shell:bob\): numproc \+1 /);
    assert.equal(shown.length, 3, JSON.stringify(shown));
  });

  test('a VE the bot does not manage: reported once, its growth to the channel only', async () => {
    const seen = await pollAfter(20, (blocks) => addForeignVe(blocks, '101', '150'));
    const unmanaged = '[alerts] VEs on node1 that the bot does not manage: 150.';
    assert.deepEqual(seen, [[unmanaged]]);
    assert.deepEqual(await pollAfter(1), [], 'reported once');

    const grown = await pollAfter(1, (blocks) => grow(blocks, '150', 'numproc', 1));
    assert.equal(grown.length, 1, JSON.stringify(grown));
    assert.match(grown[0]?.[1] ?? '', /^\[alerts\] VE 150 \(unmanaged\): numproc \+1 /);
  });

  test('cooldown holds growth back and sums it; a mute silences one VE', async () => {
    const first = await pollAfter(20, (blocks) => grow(blocks, '101', 'numfile', 1));
    assert.match(first[0]?.[1] ?? '', /numfile \+1 /);
    assert.deepEqual(await pollAfter(5, (blocks) => grow(blocks, '101', 'numfile', 2)), []);
    const summed = await pollAfter(11);
    assert.match(summed[0]?.[1] ?? '', /VE 101 .*: numfile \+2 /, 'held back, then sent');

    assert.match(
      (await rig.say(BOB, '!alerts mute 101 1h')).join('\n'),
      /VE 101 is not one of your VEs/,
    );
    assert.match(
      (await rig.say(ALICE, '!alerts mute 101 1h')).join('\n'),
      /alerts for VE 101 are muted for 1 hour/,
    );
    assert.match((await rig.say(CREW, '!alerts mute 150 2d')).join('\n'), /VE 150 are muted/);
    assert.deepEqual(await pollAfter(20, (blocks) => {
      grow(blocks, '101', 'numfile', 4);
      grow(blocks, '150', 'numfile', 4);
    }), [], 'both muted');

    const unmuted = await pollAfter(45, (blocks) => grow(blocks, '101', 'numfile', 1));
    assert.match(unmuted[0]?.[1] ?? '', /VE 101 .*: numfile \+1 /, 'muted growth is dropped');

    assert.match((await rig.say(ALICE, '!alerts')).join('\n'), /needs the crew role/);
    const listed = (await rig.say(CREW, '!alerts')).join('\n');
    assert.match(listed, /node1 VE 101 numfile \+1 \(owner shell:alice\)/);
    assert.match(listed, /node1 VE 150 is not managed by the bot/);
    assert.match(listed, /VE 150 is muted until .* \(by shell:crew\)/);
    const help = (await rig.say(ALICE, '!help alerts mute')).join('\n');
    assert.match(help, /!alerts mute ID DURATION/);
  });
});
