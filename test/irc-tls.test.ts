/**
 * The bot on a TLS listener of a real InspIRCd (ssl_gnutls, a certificate from the test CA),
 * started as `npm start -- --config bot.yaml` runs it: a child process with a config that
 * names the IRC server. The bot verifies the server's certificate (the test CA is trusted
 * through NODE_EXTRA_CA_CERTS, or refused, with the reason logged, when it is not), logs in
 * with SASL over TLS, joins and answers.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { freePort } from './helpers/bot-rig.ts';
import { IrcTestClient, registerAccount, startIrcServer, type IrcServer } from './helpers/ircd.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const BOT = 'tlsbot';
const CHANNEL = '#openvz';
const PASSWORD = 'tls-bot-pass-1';
const START_MS = 30_000;

describe('the bot over TLS, started with npm start -- --config', () => {
  let pki: TestPki;
  let server: IrcServer;
  let dir: string;
  let bot: ChildProcess | undefined;
  let output = '';
  let watcher: IrcTestClient;

  async function writeConfig(): Promise<string> {
    const configFile = path.join(dir, 'bot.yaml');
    await writeFile(configFile, stringify({
      database: 'crewvz.db',
      pki: pki.dir,
      nodes: [{ name: 'node1', address: `127.0.0.1:${await freePort()}` }],
      roles: { admins: [`irc:${BOT}`] },
      alerts: { enabled: false },
      adapters: {
        irc: {
          host: '127.0.0.1',
          port: server.tlsPort,
          tls: true,
          nick: BOT,
          channels: [CHANNEL],
          sasl: { account: BOT, password: 'env:CREWVZ_IRC_PASSWORD' },
        },
      },
    }));
    return configFile;
  }

  /** `npm start` is `cli.ts demo`; `npm start -- --config FILE` adds these arguments. */
  function startBot(configFile: string, env: Record<string, string>): ChildProcess {
    output = '';
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'demo', '--config', configFile], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CREWVZ_IRC_PASSWORD: PASSWORD, ...env },
    });
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    return child;
  }

  before(async () => {
    pki = await makeTestPki();
    // node1's certificate names IP 127.0.0.1 and is for servers: it fits an IRC server too.
    server = await startIrcServer({ tls: pki.node1 });
    await registerAccount(server, BOT, PASSWORD);
    dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-irc-tls-'));
    watcher = await IrcTestClient.connect(server, { nick: 'watcher' });
    await watcher.join(CHANNEL);
  });

  after(async () => {
    if (bot && bot.exitCode === null) bot.kill('SIGKILL');
    await watcher?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a server certificate it cannot verify, and logs why', async () => {
    // No NODE_EXTRA_CA_CERTS: the test CA is not one the bot trusts.
    const untrusting = startBot(await writeConfig(), {});
    try {
      const deadline = Date.now() + START_MS;
      while (!/IRC connection lost/.test(output)) {
        assert.ok(Date.now() < deadline, `no connection-lost line; the bot said:\n${output}`);
        assert.equal(untrusting.exitCode, null, output);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const lost = output.split('\n').find((line) => /IRC connection lost/.test(line)) ?? '';
      const entry = JSON.parse(lost) as { reason?: string; code?: string };
      assert.match(entry.code ?? '', /CERT|SIGNATURE|ISSUER/, lost);
      assert.match(entry.reason ?? '', /certificate|signature/i, lost);
      assert.ok(!watcher.lines.some((l) => l.command === 'JOIN' && l.nick === BOT));
    } finally {
      const exited = new Promise((resolve) => untrusting.once('exit', resolve));
      untrusting.kill('SIGKILL');
      await exited;
    }
  });

  it('offers TLS with a certificate the test CA vouches for', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.tlsPort, ca: pki.ca });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    assert.equal(socket.authorized, true);
    socket.destroy();
  });

  it('connects with TLS and SASL, joins, answers, and stops on SIGTERM', async () => {
    const configFile = await writeConfig();
    bot = startBot(configFile, { NODE_EXTRA_CA_CERTS: path.join(pki.dir, 'ca.crt') });
    await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === BOT, { timeoutMs: START_MS })
      .catch((error: Error) => {
        throw new Error(`${error.message}; the bot said:\n${output.slice(-3000)}`);
      });

    const from = watcher.lines.length;
    watcher.send(`WHOIS ${BOT}`);
    await watcher.waitFor((l) => l.command === '318', { from });
    const whois = watcher.lines.slice(from);
    assert.ok(whois.some((l) => l.command === '671'), 'WHOIS shows a secure connection');
    assert.ok(whois.some((l) => l.command === '330' && l.params[2] === BOT), 'logged in by SASL');

    watcher.say(CHANNEL, '!whoami');
    const answer = await watcher.waitFor(
      (l) => l.command === 'PRIVMSG' && l.nick === BOT && l.params[0] === CHANNEL);
    assert.match(answer.params[1], /watcher/);
    assert.ok(!output.includes(PASSWORD), 'the password reached the log');

    const running = bot;
    const exited = new Promise<number | null>((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    assert.equal(await exited, 0, output.slice(-2000));
  });
});
