/**
 * Beancounter alerts on a real IRC network (InspIRCd + Atheme): the bot with its IRC adapter,
 * a real agent child process whose beancounters file the test rewrites. One growth must give
 * one alert message in the alert channel and one private message to the owner's account,
 * whatever nick the owner uses.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { parseIrcConfig } from '../adapters/irc-config.ts';
import {
  ADMIN,
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

const BOT = 'crewvz';
const CHANNEL = '#openvz';
const ALERTS = '#ops';
const OWNER = { account: 'ownr', password: 'owner-pass-1' };
const WAIT_MS = 15_000;

const fromBot = (target: string, pattern: RegExp) => (l: ReceivedLine): boolean =>
  l.command === 'PRIVMSG' && l.nick === BOT && l.params[0] === target && pattern.test(l.params[1]);

describe('beancounter alerts on IRC', () => {
  let server: IrcServer;
  let agent: QuietAgent;
  let rig: AlertsBot;
  const clients: IrcTestClient[] = [];

  before(async () => {
    server = await startIrcServer();
    await registerAccount(server, OWNER.account, OWNER.password);
    agent = await startQuietAgent();
    const irc = parseIrcConfig({
      host: server.host,
      port: server.port,
      nick: BOT,
      channels: [CHANNEL, ALERTS],
      alertChannel: ALERTS,
      rate: { burst: 10, linesPerSecond: 20 },
    }, 'adapters.irc');
    rig = await startAlertsBot({ port: agent.port, irc });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await rig?.stop();
    await agent?.cleanup();
    if (rig) await rm(rig.dir, { recursive: true, force: true });
    await server?.stop();
  });

  it('one growth: one message in the alert channel, one private message to the owner',
    async () => {
      // The owner goes by a nick unlike the account: delivery follows the account.
      const owner = await IrcTestClient.connect(server, { nick: 'rubyfan', login: OWNER });
      const crew = await IrcTestClient.connect(server, { nick: 'watcher' });
      clients.push(owner, crew);
      await Promise.all([owner.join(CHANNEL), crew.join(ALERTS)]);
      const botIn = (l: ReceivedLine): boolean => (l.command === 'JOIN' && l.nick === BOT) ||
        (l.command === '353' && l.params[3].split(' ').some((n) => /^[@+]?crewvz(!|$)/.test(n)));
      await owner.waitFor(botIn, { from: 0, timeoutMs: WAIT_MS });
      await crew.waitFor(botIn, { from: 0, timeoutMs: WAIT_MS });

      owner.say(CHANNEL, '!ve create');
      const filed = await owner.waitFor(fromBot(CHANNEL, /request #\d+ filed/));
      const request = /request #(\d+) filed/.exec(filed.params[1])?.[1];
      const approved = (await rig.say(ADMIN, `!approve ${request}`)).join('\n');
      const ve = /VE (\d+) is active/.exec(approved)?.[1];
      assert.ok(ve, approved);
      // The announcement of the new VE is the last thing before the alerts start.
      await crew.waitFor(fromBot(ALERTS, /VE \d+ is active on node1/), { timeoutMs: WAIT_MS });
      await rig.poll();

      const channelMark = crew.lines.length;
      const ownerMark = owner.lines.length;
      await editBeancounters(agent.ubcFile, (blocks) => grow(blocks, ve, 'numproc', 2));
      await rig.poll();
      const ranOut = fromBot('rubyfan', /^Your VE \d+ on node1 ran out/);
      await owner.waitFor(ranOut, { timeoutMs: WAIT_MS });
      await crew.waitFor(fromBot(ALERTS, new RegExp(`^VE ${ve} \\(owner irc:ownr\\)`)),
        { timeoutMs: WAIT_MS });

      // A poll with nothing new, then a round trip: anything else queued would be here by now.
      await rig.poll();
      owner.say(CHANNEL, '!whoami');
      await owner.waitFor(fromBot(CHANNEL, /you are irc:ownr/), { timeoutMs: WAIT_MS });
      await crew.waitFor(fromBot(ALERTS, /./), { from: crew.lines.length, timeoutMs: 300 })
        .catch(() => undefined);

      const inAlerts = crew.messagesFrom(BOT, channelMark)
        .filter((l) => l.params[0] === ALERTS).map((l) => l.params[1]);
      assert.deepEqual(inAlerts.map((text) => text.replace(/ \(held.*/, '')), [
        'Beancounters on node1: 1 VE hit a limit since the last check.',
        `VE ${ve} (owner irc:ownr): numproc +2`,
      ]);
      const privately = owner.messagesFrom(BOT, ownerMark)
        .filter((l) => l.params[0] === 'rubyfan').map((l) => l.params[1]);
      assert.equal(privately.filter((text) => /^Your VE /.test(text)).length, 1);
      assert.ok(privately.some((text) => new RegExp(`!ve set ${ve} numproc \\d+:\\d+`).test(text)),
        privately.join('\n'));
      for (const line of owner.lines.slice(ownerMark)) assert.ok(line.bytes <= 512);
    });
});
