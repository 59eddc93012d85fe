/**
 * SASL PLAIN against a real InspIRCd + Atheme (SaslServ): the bot logs in to its services
 * account before registering, and a wrong password is logged as a SASL failure that names the
 * account and never the password (in clear or as the base64 the AUTHENTICATE line carries).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parseIrcConfig } from '../adapters/irc-config.ts';
import { IrcAdapter } from '../adapters/irc.ts';
import {
  IrcTestClient,
  registerAccount,
  startIrcServer,
  type IrcServer,
} from './helpers/ircd.ts';

const CHANNEL = '#openvz';
const ACCOUNT = 'crewsasl';
const PASSWORD = 'sasl-pass-7f3a9';
const WRONG = 'not-the-pass-41c2';

/** Every log line the adapter writes, as pino would write it to a file. */
function capturedLogger(): { logger: pino.Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => text };
}

function secretForms(password: string): string[] {
  const plain = Buffer.from(`${ACCOUNT}\0${ACCOUNT}\0${password}`).toString('base64');
  return [password, plain];
}

describe('SASL login on InspIRCd + Atheme', () => {
  let server: IrcServer;
  let watcher: IrcTestClient;
  const bots: IrcAdapter[] = [];

  async function startBot(nick: string, password: string) {
    process.env.CREWVZ_TEST_SASL = password;
    const config = parseIrcConfig({
      host: server.host,
      port: server.port,
      nick,
      channels: [CHANNEL],
      sasl: { account: ACCOUNT, password: 'env:CREWVZ_TEST_SASL' },
      reconnect: { minMs: 200, maxMs: 1000 },
    }, 'adapters.irc');
    const log = capturedLogger();
    const bot = new IrcAdapter({ ...config, logger: log.logger });
    bots.push(bot);
    await bot.start(async () => undefined);
    await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === nick, { from: 0 });
    return log;
  }

  /** The account WHOIS shows for `nick`, or null when it shows none. */
  async function whoisAccount(nick: string): Promise<string | null> {
    const from = watcher.lines.length;
    watcher.send(`WHOIS ${nick}`);
    const end = await watcher.waitFor((l) => l.command === '318', { from });
    const logged = watcher.lines.slice(from, watcher.lines.indexOf(end))
      .find((l) => l.command === '330' && l.params[1] === nick);
    return logged?.params[2] ?? null;
  }

  before(async () => {
    server = await startIrcServer();
    await registerAccount(server, ACCOUNT, PASSWORD);
    watcher = await IrcTestClient.connect(server, { nick: 'watcher' });
    await watcher.join(CHANNEL);
  });

  after(async () => {
    delete process.env.CREWVZ_TEST_SASL;
    await Promise.all(bots.map((bot) => bot.stop()));
    await watcher?.close();
    await server?.stop();
  });

  it('logs the bot in to its services account, whatever its nick', async () => {
    const log = await startBot('saslbot', PASSWORD);
    assert.equal(await whoisAccount('saslbot'), ACCOUNT);
    for (const secret of secretForms(PASSWORD)) {
      assert.ok(!log.text().includes(secret), 'the password reached the log');
    }
  });

  it('logs a clear SASL failure for a wrong password, without the password', async () => {
    const log = await startBot('badbot', WRONG);
    assert.equal(await whoisAccount('badbot'), null);
    const failure = log.text().split('\n').find((line) => /SASL login failed/.test(line));
    assert.ok(failure, `no SASL failure in the log:\n${log.text()}`);
    const entry = JSON.parse(failure) as { level: number; account?: string; msg: string };
    assert.equal(entry.level, 50, 'logged as an error');
    assert.equal(entry.account, ACCOUNT);
    assert.match(entry.msg, /check adapters\.irc\.sasl/);
    for (const secret of secretForms(WRONG)) {
      assert.ok(!log.text().includes(secret), 'the password reached the log');
    }
  });
});
