/**
 * Identity on a server without the IRCv3 account capabilities: InspIRCd + Atheme started without
 * account-tag, account-notify and extended-join. One bot reaches the server directly and must
 * ask with WHOX; the other goes through a relay that hides WHOX, so it must ask with WHOIS and
 * read the 330 reply. Both relays record what the bots asked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIrcConfig } from '../adapters/irc-config.ts';
import { IrcAdapter } from '../adapters/irc.ts';
import type { MessageHandler } from '../adapters/types.ts';
import { silentLogger } from '../src/log.ts';
import { IrcTestClient, registerAccount, startIrcServer, type IrcServer } from './helpers/ircd.ts';
import { startIrcProxy, type IrcProxy } from './helpers/irc-proxy.ts';

const CHANNEL = '#lab';
const ALERTS = '#lab-crew';
const BOB = { account: 'bob', password: 'bob-pass-1' };
const ACCOUNT_CAPS = ['account-tag', 'account-notify', 'extended-join'];

const whoami: MessageHandler = async (message, respond) => {
  if (message.text.toLowerCase() === '!whoami') {
    await respond({
      lines: [`${message.sender.display} is ${message.sender.identity ?? 'nobody'}`],
    });
  }
};

interface Bot {
  nick: string;
  proxy: IrcProxy;
  adapter: IrcAdapter;
}

describe('IRC identity without account capabilities (WHOX and WHOIS fallbacks)', () => {
  let server: IrcServer;
  const bots: Bot[] = [];
  const clients: IrcTestClient[] = [];

  async function startBot(nick: string, hideWhox: boolean, alertChannel?: string): Promise<Bot> {
    const proxy = await startIrcProxy(server.port, { hideWhox });
    const config = parseIrcConfig({
      host: '127.0.0.1',
      port: proxy.port,
      nick,
      channels: [CHANNEL],
      ...(alertChannel ? { alertChannel } : {}),
      rate: { burst: 10, linesPerSecond: 20 },
    }, 'adapters.irc');
    const adapter = new IrcAdapter({ ...config, logger: silentLogger() });
    const bot = { nick, proxy, adapter };
    bots.push(bot);
    await adapter.start(whoami);
    return bot;
  }

  async function connect(nick: string, login?: typeof BOB): Promise<IrcTestClient> {
    const client = await IrcTestClient.connect(server, { nick, ...(login ? { login } : {}) });
    clients.push(client);
    return client;
  }

  /** Sends `!whoami` to the bot privately and returns its answer. */
  async function ask(client: IrcTestClient, bot: Bot): Promise<string> {
    client.say(bot.nick, '!whoami');
    const answer = await client.waitFor((l) => l.command === 'PRIVMSG' && l.nick === bot.nick);
    return answer.params[1];
  }

  before(async () => {
    server = await startIrcServer({ accountCaps: false });
    await registerAccount(server, BOB.account, BOB.password);
    await Promise.all([startBot('whoxbot', false, ALERTS), startBot('whoisbot', true)]);

    // Both bots are registered and in the channel before any test talks to them.
    const watcher = await connect('watcher');
    await watcher.join(CHANNEL);
    for (const bot of bots) {
      await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === bot.nick, { from: 0 });
    }
    await watcher.close();
  });

  after(async () => {
    await Promise.all(bots.map((bot) => bot.adapter.stop()));
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(bots.map((bot) => bot.proxy.close()));
    await server?.stop();
  });

  it('runs on a server that offers none of the account capabilities', async () => {
    const probe = await connect('probe');
    probe.send('CAP LS 302');
    const offered = (await probe.waitFor((l) => l.command === 'CAP')).params.at(-1) ?? '';
    const caps = offered.split(' ').map((cap) => cap.split('=')[0]);
    assert.ok(caps.includes('sasl'), `CAP LS should still list sasl: ${offered}`);
    for (const cap of ACCOUNT_CAPS) assert.ok(!caps.includes(cap), `${cap} offered: ${offered}`);

    const isupport = (bot: Bot): string[] => bot.proxy.received.filter((l) => / 005 /.test(l));
    assert.ok(isupport(bots[0]).some((l) => / WHOX /.test(l)));
    assert.ok(!isupport(bots[1]).some((l) => /WHOX/.test(l)));
  });

  it('joins an alert channel that is not among its channels, and delivers alerts there',
    async () => {
      const crew = await connect('crewie');
      await crew.join(ALERTS);
      // The bot is there: NAMES lists it, or it joins after us.
      await crew.waitFor((l) => (l.command === 'JOIN' && l.nick === 'whoxbot') ||
        (l.command === '353' && /(^| )[@+]?whoxbot(!|$| )/.test(l.params[3])), { from: 0 });
      await bots[0].adapter.send({ kind: 'alerts' }, { lines: ['VE 101 is near its limit'] });
      const alert = await crew.waitFor((l) => l.command === 'PRIVMSG' && l.nick === 'whoxbot');
      assert.deepEqual(alert.params, [ALERTS, 'VE 101 is near its limit']);
    });

  for (const [index, query] of [[0, 'WHO robert %tcna,'], [1, 'WHOIS robert']] as const) {
    it(`vouches by services account via ${query.split(' ')[0]}, and sees a logout at once`,
      async () => {
        const bot = bots[index];
        const impostor = await connect(BOB.account);
        assert.equal(await ask(impostor, bot), 'bob is nobody');
        await impostor.close();

        const real = await connect('robert', BOB);
        assert.equal(await ask(real, bot), 'robert is irc:bob');
        assert.ok(bot.proxy.sent.some((l) => l.startsWith(query)), bot.proxy.sent.join('\n'));
        // The other query would have worked too; check the bot asked only the one it should.
        const other = index === 0 ? /^WHOIS / : /^WHO /;
        assert.ok(!bot.proxy.sent.some((l) => other.test(l)), bot.proxy.sent.join('\n'));

        await real.logout();
        assert.equal(await ask(real, bot), 'robert is nobody');
        await real.identify(BOB.account, BOB.password);
        assert.equal(await ask(real, bot), 'robert is irc:bob');
        await real.close();
      });
  }

  // The server answers a lookup under the nick as it is now; a case-only rename in between
  // ([bob] to {BOB}) must still match the lookup, which it does only under rfc1459 folding.
  for (const index of [0, 1]) {
    it(`matches ${index === 0 ? 'WHOX' : 'WHOIS'} replies to the asker under CASEMAPPING`,
      async () => {
        const bot = bots[index];
        const renamer = await connect(`[bob${index}]`, BOB);
        renamer.send(`PRIVMSG ${bot.nick} :!whoami\r\nNICK {BOB${index}}`);
        const answer = await renamer.waitFor((l) => l.command === 'PRIVMSG' &&
          l.nick === bot.nick);
        assert.equal(answer.params[1], `[bob${index}] is irc:bob`);
        // The reply really named the new spelling, or this test proved nothing.
        const reply = index === 0
          ? / 354 whoxbot \d+ \S+ {BOB0} :?bob$/
          : / 330 whoisbot {BOB1} bob /;
        assert.ok(bot.proxy.received.some((l) => reply.test(l)),
          bot.proxy.received.slice(-12).join('\n'));
        await renamer.close();
      });
  }
});
