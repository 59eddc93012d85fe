/**
 * `crewvz demo` (what `npm start` runs): everything on this machine. A data folder `.crewvz/`
 * with the SQLite file, a PKI made on first run, a node agent with the simulated driver as a
 * real child process on a loopback port reached over mutual TLS, and the terminal adapter where
 * you are `shell:<login>` and an admin. Logs go to `.crewvz/crewvz.log`, not the terminal.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

import { ShellAdapter } from '../adapters/shell.ts';
import { Bot } from './bot.ts';
import type { BotConfig } from './config.ts';
import { DEMO_NODE, ensurePki, freePort, startDemoAgent, stopDemoAgent } from './demo-agent.ts';
import { createLogger } from './log.ts';
import { usernameFor } from './roles.ts';
import { StopSignals } from './shutdown.ts';
import { Store } from './store/index.ts';
import { OPEN_STATES } from './store/requests.ts';
import { parseAlertsConfig } from './watcher/config.ts';

const DEMO_POLL_SECONDS = 10;
/** Who you are in the demo when your login cannot be a VE login (root, most often). */
export const DEMO_LOGIN = 'demo';

/** The login the demo uses, and why it is not the OS login when it is not. */
export function demoLogin(osLogin: string, uid: number): { login: string; note: string | null } {
  if (uid === 0) {
    return { login: DEMO_LOGIN, note: `your login ${osLogin} is the superuser's` };
  }
  try {
    usernameFor(`shell:${osLogin}`);
    return { login: osLogin, note: null };
  } catch {
    return { login: DEMO_LOGIN, note: `your login ${osLogin} cannot be a VE login` };
  }
}

/**
 * Three commands that fit what the data folder holds: with a request pending, a look at it
 * and its approval; with none, a new request and the approval it will need. Then the counters
 * of an existing VE, or of the VE the approval makes.
 */
function suggestions(store: Store): string[] {
  const pending = store.requests.inStates(OPEN_STATES)[0];
  const request = pending?.id ?? store.requests.nextId();
  const ve = store.ves.active()[0]?.id ?? store.ves.peekNextId();
  const first =
    pending === undefined
      ? ['!ve create', 'ask for a VE (the reply names your request number)']
      : ['!requests', `the open requests; #${request} is waiting for the crew`];
  return [
    first,
    [`!approve ${request}`, `approve request #${request} as the crew; makes the VE`],
    [`!ve ubc ${ve}`, `VE ${ve}'s resource counters`],
  ].map(([command = '', what = '']) => `  ${command}`.padEnd(18) + what);
}

function welcome(identity: string, note: string | null, logFile: string, db: string): string {
  // A short look at the database, before the bot opens it, to suggest what fits its state.
  const store = Store.open(db);
  let tries: string[];
  try {
    tries = suggestions(store);
  } finally {
    store.close();
  }
  const why = note === null ? [] : [`(${note}, so here you are ${identity}.)`];
  return [
    `crewvz demo: you are ${identity}, an admin, with one simulated node (${DEMO_NODE}) reached`,
    'over mutual TLS.',
    ...why,
    'Try:',
    ...tries,
    `!help lists every command; /as shell:bob makes you a student; /quit ends. Log: ${logFile}`,
    '',
  ].join('\n');
}

function demoConfig(dataDir: string, port: number, login: string): BotConfig {
  return {
    database: path.join(dataDir, 'crewvz.db'),
    pki: path.join(dataDir, 'pki'),
    logLevel: 'info',
    logFile: path.join(dataDir, 'crewvz.log'),
    nodes: [{ name: DEMO_NODE, address: `127.0.0.1:${port}` }],
    roles: { admins: [`shell:${login}`], crew: [] },
    adapters: { shell: { login }, irc: null },
    quotas: { activeVes: 1, pendingRequests: 1 },
    requests: { expireDays: 7, defaultTemplate: null },
    // Often enough that the sim's load shows an alert within a minute or two of a new VE.
    alerts: { ...parseAlertsConfig(undefined).settings, intervalSeconds: DEMO_POLL_SECONDS },
  };
}

export async function main(argv: string[]): Promise<number> {
  // `npm start` runs the demo; `npm start -- --config FILE` means the bot with that config.
  if (argv.some((arg) => arg === '--config' || arg.startsWith('--config='))) {
    return (await import('./bot-cli.ts')).main(argv);
  }
  if (argv.length > 0) {
    process.stderr.write(
      `crewvz demo: unknown argument '${argv[0]}'; the demo takes none.\n` +
        'To run the bot from a config file: npm start -- --config bot.yaml ' +
        '(or crewvz bot --config bot.yaml)\n',
    );
    return 2;
  }
  const signals = new StopSignals({ say: (text) => process.stderr.write(text) });
  const dataDir = path.resolve('.crewvz');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(dataDir, 'crewvz.log');
  const logger = createLogger({ file: logFile });

  let agent: ChildProcess | null = null;
  let bot: Bot | null = null;
  // A forced exit (a second Ctrl-C) skips the clean stop; the agent child must not outlive it.
  const stopOnExit = (): void => {
    agent?.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);
  let status = 1;
  try {
    await ensurePki(path.join(dataDir, 'pki'));
    const port = await freePort();
    agent = await startDemoAgent(dataDir, port, logFile);

    const { login, note } = demoLogin(userInfo().username, process.getuid?.() ?? -1);
    const config = demoConfig(dataDir, port, login);
    const relative = path.relative(process.cwd(), logFile);
    process.stdout.write(welcome(`shell:${login}`, note, relative, config.database));

    const shell = new ShellAdapter({
      input: process.stdin,
      output: process.stdout,
      login,
      prompt: process.stdin.isTTY === true,
      logger,
      allowAs: true,
    });
    const roleSource = 'the demo makes you admin';
    bot = await Bot.start({ config, logger, adapters: [shell], roleSource });
    await signals.wait(shell.done);
    status = 0;
  } finally {
    await bot?.stop();
    if (agent !== null) {
      await stopDemoAgent(agent);
    }
    process.removeListener('exit', stopOnExit);
    signals.release(status);
  }
  return status;
}
