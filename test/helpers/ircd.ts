/**
 * A real IRC network for tests: InspIRCd 3 with Atheme services (NickServ, SaslServ), both run
 * in the foreground as children of the test process on 127.0.0.1 with random ports, in a temp
 * dir. Always call `server.stop()` in an `after` hook; children are also killed on exit.
 *
 * Exports:
 * - `startIrcServer(options?)` → `IrcServer` { host, port, dir, stop(), killIrcd(), startIrcd() }.
 *   `options.flood` sets the server's flood limits (default: lenient); `options.accountCaps:
 *   false` leaves out account-tag, account-notify and extended-join (to test WHOX fallbacks),
 *   `'without-tag'` leaves out account-tag alone. `options.tls: { cert, key }` (PEM) adds a TLS
 *   listener (ssl_gnutls) on `server.tlsPort`.
 *   `killIrcd()` SIGKILLs the IRC server; `startIrcd()` starts it again on the same ports and
 *   waits until services have relinked (accounts survive; users must log in again).
 * - `registerAccount(server, account, password)`: registers a services account via NickServ.
 * - `IrcTestClient.connect(server, { nick, login?, caps? })`: a raw client that logs in with
 *   NickServ IDENTIFY when `login` is given. `lines` holds every line exactly as received
 *   (`bytes` counts the CRLF; `utf8` says whether it decodes as valid UTF-8). `waitFor(pred)`
 *   resolves with the first matching line from `from` (default: lines not yet waited past);
 *   `join`, `say`, `send`, `identify`, `logout`, `close`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IrcTestClient } from './irc-client.ts';

export { IrcTestClient, type ReceivedLine } from './irc-client.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'irc');
const START_TIMEOUT_MS = 10_000;

export interface IrcServerOptions {
  /** InspIRCd flood limits: penalty threshold (commands) and drain rate (commands per second). */
  flood?: { threshold: number; commandsPerSecond: number };
  /** false: no account-tag, account-notify or extended-join; 'without-tag': no account-tag. */
  accountCaps?: boolean | 'without-tag';
  /** A TLS listener with this certificate and key (PEM), on `IrcServer.tlsPort`. */
  tls?: { cert: string; key: string };
}

export interface IrcServer {
  host: string;
  port: number;
  /** The TLS listener's port; 0 without `options.tls`. */
  tlsPort: number;
  dir: string;
  killIrcd(): Promise<void>;
  startIrcd(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startIrcServer(options: IrcServerOptions = {}): Promise<IrcServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-ircd-'));
  const port = await freePort();
  const linkPort = await freePort();
  const tlsPort = options.tls ? await freePort() : 0;
  let tlsBlock = '';
  if (options.tls) {
    await writeFile(path.join(dir, 'tls.crt'), options.tls.cert);
    await writeFile(path.join(dir, 'tls.key'), options.tls.key, { mode: 0o600 });
    tlsBlock = [
      '<module name="ssl_gnutls">',
      '<module name="sslinfo">',  // WHOIS 671: is using a secure connection
      `<sslprofile name="tls" provider="gnutls" certfile="${dir}/tls.crt" ` +
        `keyfile="${dir}/tls.key" cafile="" crlfile="" dhfile="" hash="sha256">`,
      `<bind address="127.0.0.1" port="${tlsPort}" type="clients" sslprofile="tls">`,
    ].join('\n');
  }
  const flood = options.flood ?? { threshold: 1000, commandsPerSecond: 100 };
  // m_ircv3 gives account-notify, away-notify and extended-join; account-tag is its own module.
  let accountModules = '<module name="ircv3">\n<module name="ircv3_accounttag">';
  if (options.accountCaps === false) accountModules = '';
  if (options.accountCaps === 'without-tag') accountModules = '<module name="ircv3">';

  const fill = (text: string): string => text
    .replaceAll('@PORT@', String(port))
    .replaceAll('@SPORT@', String(linkPort))
    .replaceAll('@DIR@', dir)
    .replaceAll('@THRESHOLD@', String(flood.threshold))
    .replaceAll('@COMMANDRATE@', String(Math.round(flood.commandsPerSecond * 1000)))
    .replaceAll('@ACCOUNTCAPS@', accountModules)
    .replaceAll('@TLS@', tlsBlock);
  for (const name of ['inspircd.conf', 'atheme.conf']) {
    const template = await readFile(path.join(FIXTURES, `${name}.tmpl`), 'utf8');
    await writeFile(path.join(dir, name), fill(template));
  }

  let ircd: ChildProcess | undefined;
  let atheme: ChildProcess | undefined;
  let athemeOut = '';
  let ircdOut = '';
  const links = (): number => athemeOut.split('finished synching with uplink').length - 1;

  const startIrcd = async (): Promise<void> => {
    const args = ['--config', path.join(dir, 'inspircd.conf'), '--nofork', '--nopid'];
    if (process.getuid?.() === 0) args.push('--runasroot');
    const linksBefore = links();
    ircd = track(spawn('/usr/sbin/inspircd', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const collect = (chunk: Buffer): void => {
      ircdOut = (ircdOut + chunk.toString('utf8')).slice(-2000);
    };
    ircd.stdout?.on('data', collect);
    ircd.stderr?.on('data', collect);
    await waitForPort(port).catch((error: Error) => {
      throw new Error(`${error.message}; InspIRCd said:\n${ircdOut}`);
    });
    if (atheme) await until(() => links() > linksBefore, 'Atheme to relink to InspIRCd');
  };

  const server: IrcServer = {
    host: '127.0.0.1',
    port,
    tlsPort,
    dir,
    startIrcd,
    async killIrcd() {
      await kill(ircd);
      ircd = undefined;
    },
    async stop() {
      await kill(atheme);
      await kill(ircd);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await startIrcd();
    const athemeArgs = ['-n', '-c', path.join(dir, 'atheme.conf'), '-D', dir,
      '-l', path.join(dir, 'atheme.log'), '-p', path.join(dir, 'atheme.pid')];
    atheme = track(spawn('/usr/bin/atheme-services', athemeArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    const collect = (chunk: Buffer): void => {
      athemeOut += chunk.toString('utf8');
    };
    atheme.stdout?.on('data', collect);
    atheme.stderr?.on('data', collect);
    await until(() => links() > 0, 'Atheme to link to InspIRCd').catch((error: Error) => {
      throw new Error(`${error.message}; Atheme said:\n${athemeOut.slice(-2000)}`);
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Registers `account` with NickServ (connecting under that nick), then disconnects. */
export async function registerAccount(
  server: IrcServer,
  account: string,
  password: string,
): Promise<void> {
  const client = await IrcTestClient.connect(server, { nick: account });
  try {
    const from = client.lines.length;
    client.say('NickServ', `REGISTER ${password} ${account}@example.test`);
    await client.waitFor(
      (l) => l.command === 'NOTICE' && /is now registered|registered to/i.test(l.params[1] ?? ''),
      { from },
    );
  } finally {
    await client.close();
  }
}

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.stdout?.resume();
  child.stderr?.resume();
  child.on('exit', () => running.delete(child));
  return child;
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  await until(
    () => new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    }),
    `InspIRCd to listen on port ${port}`,
  );
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
