/**
 * Identity on a server with account-notify and extended-join but no account-tag (InspIRCd
 * without m_ircv3_accounttag): a message carries no account, so the bot answers from the state
 * those two keep current, and a logout (`ACCOUNT *`) takes effect at once, with no lookup.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIrcConfig } from '../adapters/irc-config.ts';
import { IrcAdapter } from '../adapters/irc.ts';
import type { MessageHandler } from '../adapters/types.ts';
import { silentLogger } from '../src/log.ts';
import { IrcTestClient, registerAccount, startIrcServer, type IrcServer } from './helpers/ircd.ts';
import { startIrcProxy, type IrcProxy } from './helpers/irc-proxy.ts';

const BOT = 'notifybot';
const CHANNEL = '#lab';
const CAROL = { account: 'carol', password: 'carol-pass-1' };

const whoami: MessageHandler = async (message, respond) => {
  await respond({ lines: [`${message.sender.display} is ${message.sender.identity ?? 'nobody'}`] });
};

describe('IRC identity with account-notify and extended-join but no account-tag', () => {
  let server: IrcServer;
  let proxy: IrcProxy;
  let bot: IrcAdapter;
  const clients: IrcTestClient[] = [];

  async function joined(nick: string, login?: typeof CAROL): Promise<IrcTestClient> {
    const client = await IrcTestClient.connect(server, { nick, ...(login ? { login } : {}) });
    clients.push(client);
    await client.join(CHANNEL);
    return client;
  }

  async function ask(client: IrcTestClient): Promise<string> {
    const from = client.lines.length;
    client.say(CHANNEL, '!whoami');
    const answer = await client.waitFor(
      (l) => l.command === 'PRIVMSG' && l.nick === BOT && l.params[0] === CHANNEL, { from });
    return answer.params[1];
  }

  /** Lookups the bot made for one person (not the WHO of a whole channel on joining it). */
  const lookupsFor = (nick: string): string[] =>
    proxy.sent.filter((l) => l.startsWith(`WHO ${nick} `) || l.startsWith(`WHOIS ${nick}`));

  before(async () => {
    server = await startIrcServer({ accountCaps: 'without-tag' });
    await registerAccount(server, CAROL.account, CAROL.password);
    proxy = await startIrcProxy(server.port, { hideWhox: false });
    const config = parseIrcConfig({
      host: '127.0.0.1', port: proxy.port, nick: BOT, channels: [CHANNEL],
      rate: { burst: 10, linesPerSecond: 20 },
    }, 'adapters.irc');
    bot = new IrcAdapter({ ...config, logger: silentLogger() });
    await bot.start(whoami);
    const watcher = await joined('watcher');
    await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === BOT, { from: 0 });
  });

  after(async () => {
    await bot?.stop();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await proxy?.close();
    await server?.stop();
  });

  it('is granted account-notify and extended-join, and not account-tag', () => {
    const acks = proxy.received.filter((l) => / CAP \S+ ACK /.test(l)).join(' ');
    assert.match(acks, /account-notify/);
    assert.match(acks, /extended-join/);
    assert.doesNotMatch(acks, /account-tag/);
  });

  it('knows a logged-in joiner from extended-join, and a logout at once from ACCOUNT *',
    async () => {
      const carol = await joined('caz', CAROL);
      assert.equal(await ask(carol), 'caz is irc:carol');

      await carol.logout();
      assert.equal(await ask(carol), 'caz is nobody');
      await carol.identify(CAROL.account, CAROL.password);
      assert.equal(await ask(carol), 'caz is irc:carol');

      // All of it came from extended-join and account-notify: the bot never had to ask.
      assert.deepEqual(lookupsFor('caz'), []);
      assert.ok(proxy.received.some((l) => / ACCOUNT :?\*$/.test(l)), 'the server sent ACCOUNT *');
    });
});
