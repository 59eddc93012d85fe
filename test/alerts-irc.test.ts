/**
 * Beancounter alerts on a real IRC network (InspIRCd + Atheme) and in the shell adapter at once:
 * the bot with both adapters, a real agent child process whose beancounters file the test
 * rewrites. Every case of the watcher gives exactly its messages in the IRC alert channel, in
 * the terminal's alert lines, and privately to the owner's account whatever nick they use.
 * One IRC server, one agent and one set of VEs for the whole file; the cases run in order and
 * each moves the clock past the cooldown of what the case before it alerted.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { parseIrcConfig } from '../adapters/irc-config.ts';
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
import {
  IrcTestClient,
  registerAccount,
  startIrcServer,
  type IrcServer,
  type ReceivedLine,
} from './helpers/ircd.ts';
import {
  AlertsWitness,
  assertChannel,
  assertQuiet,
  fromBot as botSays,
  type Seen,
} from './helpers/alerts-witness.ts';

type Edit = (blocks: BeancounterBlock[]) => void;

const BOT = 'crewvz';
const CHANNEL = '#openvz';
const ALERTS = '#ops';
const OWNER = { account: 'ownr', password: 'owner-pass-1' };
/** The owner's nick, unlike the account: delivery follows the account. */
const OWNER_NICK = 'rubyfan';
const BOB = 'shell:bob';
const MANY = 'shell:many';
const CREW = 'shell:crew';
const WAIT_MS = 15_000;
const MINUTE = 60_000;
const HEADER = 'Beancounters on node1:';

const fromBot = (target: string, pattern: RegExp) => botSays(BOT, target, pattern);

let server: IrcServer;
let agent: QuietAgent;
let rig: AlertsBot;
let owner: IrcTestClient;
let crew: IrcTestClient;
let witness: AlertsWitness;
let ve: string;
const clock = { now: new Date('2025-03-01T10:00:00Z') };
const dirs: string[] = [];
const irc = (): ReturnType<typeof parseIrcConfig> => parseIrcConfig({
  host: server.host,
  port: server.port,
  nick: BOT,
  channels: [CHANNEL, ALERTS],
  alertChannel: ALERTS,
  // The test asks `!whoami` after every poll (see collect): no per-person command limit here.
  rate: { burst: 10, linesPerSecond: 20, userBurst: 1000, userPerMinute: 10_000 },
}, 'adapters.irc');

async function startBot(dir?: string): Promise<AlertsBot> {
  const started = await startAlertsBot({
    port: agent.port,
    irc: irc(),
    clock,
    quotas: { activeVes: 25, pendingRequests: 1 },
    alerts: { unreachableAfter: 2 },
    ...(dir === undefined ? {} : { dir }),
  });
  dirs.push(started.dir);
  return started;
}

function later(minutes: number): void {
  clock.now = new Date(clock.now.getTime() + minutes * MINUTE);
}

async function makeVe(identity: string): Promise<string> {
  const filed = (await rig.say(identity, '!ve create')).join('\n');
  const request = /request #(\d+) filed/.exec(filed)?.[1];
  assert.ok(request, filed);
  const approved = (await rig.say(ADMIN, `!approve ${request}`)).join('\n');
  const id = /VE (\d+) is active/.exec(approved)?.[1];
  assert.ok(id, approved);
  return id;
}

/** Rewrites the agent's beancounters, moves the clock, polls; returns what each side got. */
async function pollAfter(minutes: number, edit?: Edit): Promise<Seen> {
  if (edit !== undefined) {
    await editBeancounters(agent.ubcFile, edit);
  }
  later(minutes);
  rig.screen.take();
  const from = witness.marks();
  await rig.poll();
  return witness.collect(from, rig.screen);
}

/** The owner got one explanation per VE, with the `!ve set` a crew member could run. */
function assertOwnerTold(seen: Seen, pattern: RegExp): void {
  const text = seen.owner.join('\n');
  assert.equal(seen.owner.filter((line) => /^Your VE /.test(line)).length, 1, text);
  assert.match(text, new RegExp(`^Your VE ${ve} on node1 ran out`));
  assert.match(text, pattern);
}

before(async () => {
  server = await startIrcServer();
  await registerAccount(server, OWNER.account, OWNER.password);
  agent = await startQuietAgent();
  rig = await startBot();

  owner = await IrcTestClient.connect(server, { nick: OWNER_NICK, login: OWNER });
  crew = await IrcTestClient.connect(server, { nick: 'watcher' });
  await Promise.all([owner.join(CHANNEL), crew.join(ALERTS)]);
  witness = new AlertsWitness({ bot: BOT, alerts: ALERTS, crew, owner });
  const botIn = (l: ReceivedLine): boolean => (l.command === 'JOIN' && l.nick === BOT) ||
    (l.command === '353' && l.params[3].split(' ').some((n) => /^[@+]?crewvz(!|$)/.test(n)));
  await owner.waitFor(botIn, { from: 0, timeoutMs: WAIT_MS });
  await crew.waitFor(botIn, { from: 0, timeoutMs: WAIT_MS });

  // The owner files on IRC; the VE is announced in the alert channel.
  owner.say(CHANNEL, '!ve create');
  const filed = await owner.waitFor(fromBot(CHANNEL, /request #\d+ filed/),
    { timeoutMs: WAIT_MS });
  const request = /request #(\d+) filed/.exec(filed.params[1])?.[1];
  const approved = (await rig.say(ADMIN, `!approve ${request}`)).join('\n');
  ve = /VE (\d+) is active/.exec(approved)?.[1] ?? '';
  assert.equal(ve, '101', approved);
  assert.equal(await makeVe(BOB), '102');
  await crew.waitFor(fromBot(ALERTS, /VE 101 is active on node1/), { timeoutMs: WAIT_MS });

  // Baselines for both VEs, and everything said so far out of the way.
  await pollAfter(1);
});

after(async () => {
  await Promise.all([owner, crew].map((c) => c?.close().catch(() => undefined)));
  await rig?.stop();
  await agent?.cleanup();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  await server?.stop();
});

describe('beancounter alerts on IRC and in the shell', () => {
  it('one growth: one alert message, one private message to the owner', async () => {
    const seen = await pollAfter(1, (blocks) => grow(blocks, ve, 'privvmpages', 3));

    assertChannel(seen, [
      `${HEADER} 1 VE hit a limit since the last check.`,
      /^VE 101 \(owner irc:ownr\): privvmpages \+3 \(held [\d.]+ \S+, barrier 256 MiB, limit 272/,
    ]);
    assertOwnerTold(seen, /\(privvmpages\) ran out 3 times[^]*!ve set 101 privvmpages \d+:\d+/);
    assert.deepEqual(seen.shellOther, []);
    for (const line of owner.lines.slice(-seen.owner.length - 1)) assert.ok(line.bytes <= 512);

    assertQuiet(await pollAfter(1), 'no growth, no alert');
  });

  it('two resources in one poll: one message', async () => {
    const seen = await pollAfter(1, (blocks) => {
      grow(blocks, ve, 'numproc', 2);
      grow(blocks, ve, 'numfile', 1);
    });

    assertChannel(seen, [
      `${HEADER} 1 VE hit a limit since the last check.`,
      /^VE 101 \(owner irc:ownr\): numfile \+1 \(held/,
      /^VE 101 \(owner irc:ownr\): numproc \+2 \(held/,
    ]);
    assertOwnerTold(seen, /\(numfile\) ran out once[^]*\(numproc\) ran out 2 times/);
  });

  it('a counter reset is silent, with and without growth after it', async () => {
    owner.say(CHANNEL, '!ve restart 101');
    await owner.waitFor(fromBot(CHANNEL, /VE 101: running/), { timeoutMs: WAIT_MS });
    assertQuiet(await pollAfter(20), 'the restart itself is no alert');

    const grown = await pollAfter(1, (blocks) => grow(blocks, ve, 'numproc', 5));
    assertChannel(grown, [`${HEADER} 1 VE hit a limit since the last check.`, /numproc \+5 /]);
    assertOwnerTold(grown, /\(numproc\) ran out 5 times/);

    // Restarted and grown again between two polls: the counter fell from 5 to 2, yet 2 grew.
    owner.say(CHANNEL, '!ve restart 101');
    await owner.waitFor(fromBot(CHANNEL, /VE 101: running/), { timeoutMs: WAIT_MS });
    const again = await pollAfter(20, (blocks) => grow(blocks, ve, 'numproc', 2));
    assertChannel(again, [`${HEADER} 1 VE hit a limit since the last check.`, /numproc \+2 /]);
    assertOwnerTold(again, /\(numproc\) ran out 2 times/);
  });

  it('a bot restart between two polls keeps the baseline and invents nothing', async () => {
    const dir = rig.dir;
    const from = witness.marks();
    await rig.stop();
    await editBeancounters(agent.ubcFile, (blocks) => {
      grow(blocks, ve, 'numfile', 2);
      grow(blocks, '102', 'numfile', 1);
    });
    later(20);
    rig = await startBot(dir);

    // The new bot's first poll ran as it started; IRC output waits for its login to the network.
    await owner.waitFor(fromBot(OWNER_NICK, /^Your VE 101/),
      { from: from.owner, timeoutMs: WAIT_MS });
    const seen = await witness.collect(from, rig.screen);
    assertChannel(seen, [
      `${HEADER} 2 VEs hit a limit since the last check.`,
      /^VE 101 \(owner irc:ownr\): numfile \+2 /,
      /^VE 102 \(owner shell:bob\): numfile \+1 /,
    ]);
    assertOwnerTold(seen, /\(numfile\) ran out 2 times/);
    assert.equal(seen.shellOther.length, 1);
    assert.match(seen.shellOther[0]?.[0] ?? '', /^\[to shell:bob\] Your VE 102 on node1/);

    assertQuiet(await pollAfter(1), 'the kept baseline: nothing new');
  });

  it('20 VEs growing in one poll: one bounded channel message, one short one per owner',
    async () => {
      const made: string[] = [];
      for (let count = 0; count < 18; count += 1) {
        made.push(await makeVe(MANY));
      }
      // Each request was announced in the alert channel: let those lines go first.
      await witness.collect(witness.marks(), rig.screen);
      assertQuiet(await pollAfter(1), 'new VEs only get a baseline');

      const ves = [ve, '102', ...made];
      const seen = await pollAfter(20, (blocks) => {
        for (const id of ves) {
          grow(blocks, id, 'kmemsize', 1);
        }
      });
      assertChannel(seen, [
        `${HEADER} 20 VEs hit a limit since the last check.`,
        ...ves.slice(0, 10).map((id) => new RegExp(`^VE ${id} \\(owner \\S+\\): kmemsize \\+1 `)),
        '…and 10 more: !alerts 20 shows them all.',
      ]);
      assertOwnerTold(seen, /\(kmemsize\) ran out once/);
      assert.deepEqual(seen.shellOther.map((message) => message[0]?.split(' Your')[0]),
        ['[to shell:bob]', '[to shell:many]']);
      const many = seen.shellOther[1] ?? [];
      assert.ok(many.length <= 6, many.join('\n'));
      assert.match(many.join('\n'), /\(kmemsize\) ran out 18 times on 18 VEs/);

      const listed = (await rig.say(CREW, '!alerts 20')).join('\n');
      for (const id of ves) {
        assert.match(listed, new RegExp(`node1 VE ${id} kmemsize \\+1 `));
      }
    });

  it('a node down then back: one unreachable alert, one back message', async () => {
    await agent.stop();
    try {
      assertQuiet(await pollAfter(1), 'one failed poll is not yet an alert');
      assertChannel(await pollAfter(1), [
        'Node node1 is unreachable: 2 polls in a row failed (last: the node cannot be ' +
          'reached). Beancounter alerts for its VEs wait until it answers again.',
      ]);
      assertQuiet(await pollAfter(1), 'said once');
      await editBeancounters(agent.ubcFile, (blocks) => grow(blocks, ve, 'numproc', 1));
    } finally {
      await agent.start();
    }

    // The client redials with backoff: poll until the node answers, at most 10 s.
    let seen = await pollAfter(0);
    for (let attempt = 0; attempt < 40 && seen.alerts.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await pollAfter(0);
    }
    assert.equal(seen.alerts.length, 3, seen.alerts.join('\n'));
    assert.match(seen.alerts[0] ?? '', /^Node node1 answers again after \d+ minutes?; beancounter/);
    assert.match(seen.alerts[2] ?? '', /^VE 101 \(owner irc:ownr\): numproc \+1 /);
    // The back notice and the growth are two messages in the terminal.
    assert.deepEqual(seen.shellAlerts, [seen.alerts.slice(0, 1), seen.alerts.slice(1)]);
    assertOwnerTold(seen, /\(numproc\) ran out once/);
  });

  it('a VE the bot does not manage: reported once, its growth to the channel only', async () => {
    assertChannel(await pollAfter(20, (blocks) => addForeignVe(blocks, '101', '150')), [
      'VEs on node1 that the bot does not manage: 150.',
    ]);
    assertQuiet(await pollAfter(1), 'reported once');

    const grown = await pollAfter(1, (blocks) => grow(blocks, '150', 'numproc', 1));
    assertChannel(grown, [
      `${HEADER} 1 VE hit a limit since the last check.`,
      /^VE 150 \(unmanaged\): numproc \+1 /,
    ]);
    assert.deepEqual([grown.owner, grown.shellOther], [[], []]);
  });

  it('cooldown holds growth back and sums it; the owner mutes their VE on IRC', async () => {
    const first = await pollAfter(20, (blocks) => grow(blocks, ve, 'numfile', 1));
    assertChannel(first, [`${HEADER} 1 VE hit a limit since the last check.`, /numfile \+1 /]);
    assertQuiet(await pollAfter(5, (blocks) => grow(blocks, ve, 'numfile', 2)), 'cooling down');
    const summed = await pollAfter(11);
    assertChannel(summed, [`${HEADER} 1 VE hit a limit since the last check.`, /numfile \+2 /]);
    assertOwnerTold(summed, /\(numfile\) ran out 2 times/);

    owner.say(CHANNEL, '!alerts mute 101 1h');
    await owner.waitFor(fromBot(CHANNEL, /alerts for VE 101 are muted for 1 hour/),
      { timeoutMs: WAIT_MS });
    assertQuiet(await pollAfter(20, (blocks) => grow(blocks, ve, 'numfile', 4)), 'muted');

    const unmuted = await pollAfter(45, (blocks) => grow(blocks, ve, 'numfile', 1));
    assertChannel(unmuted, [`${HEADER} 1 VE hit a limit since the last check.`, /numfile \+1 /]);
    assertOwnerTold(unmuted, /\(numfile\) ran out once/);
  });
});
