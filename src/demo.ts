/**
 * `crewvz demo` (what `npm start` runs): everything on this machine. A data folder `.crewvz/`
 * with the SQLite file, a PKI made on first run, a node agent with the simulated driver as a
 * real child process on a loopback port reached over mutual TLS, and the terminal adapter where
 * you are `shell:<login>` and an admin. Logs go to `.crewvz/crewvz.log`, not the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

import { ShellAdapter } from '../adapters/shell.ts';
import { Bot } from './bot.ts';
import type { BotConfig } from './config.ts';
import { createLogger } from './log.ts';
import { initPki, issueAgentCert } from './pki.ts';
import { parseAlertsConfig } from './watcher/config.ts';

const NODE = 'node1';
const AGENT_READY_MS = 20_000;
const AGENT_STOP_MS = 5_000;
const DEMO_POLL_SECONDS = 10;
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

/** A port the kernel says is free now; the agent binds it a moment later. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function ensurePki(dir: string): Promise<void> {
  if (!existsSync(path.join(dir, 'ca.crt'))) {
    await initPki(dir);
  }
  if (!existsSync(path.join(dir, `${NODE}.crt`))) {
    await issueAgentCert(dir, NODE, { ips: ['127.0.0.1'] });
  }
}

/** Starts `crewvz agent` as a child whose output goes to the log file. */
async function startAgent(dataDir: string, port: number, logFile: string): Promise<ChildProcess> {
  const configFile = path.join(dataDir, 'agent.yaml');
  const agentConfig = {
    name: NODE,
    listen: `127.0.0.1:${port}`,
    pki: path.join(dataDir, 'pki'),
    driver: 'sim',
    stateDir: path.join(dataDir, 'sim'),
    templates: path.join(dataDir, 'templates'),
    logLevel: 'info',
  };
  await writeFile(configFile, stringify(agentConfig));

  const log = openSync(logFile, 'a');
  const tsx = import.meta.resolve('tsx');
  const child = spawn(
    process.execPath,
    ['--import', tsx, CLI, 'agent', '--config', configFile],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  await waitForPort(child, port, logFile);
  return child;
}

/** Resolves once the agent accepts connections; rejects if it exits or takes too long. */
async function waitForPort(child: ChildProcess, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + AGENT_READY_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`the demo agent exited with status ${child.exitCode}; see ${logFile}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seconds = AGENT_READY_MS / 1000;
  throw new Error(`the demo agent did not listen within ${seconds} s; see ${logFile}`);
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), AGENT_STOP_MS);
  await exited;
  clearTimeout(timer);
}

function welcome(identity: string, logFile: string): string {
  return [
    `crewvz demo: you are ${identity}, an admin, with one simulated node (${NODE}) reached`,
    'over mutual TLS. Try:',
    '  !ve create      ask for a VE (the reply names your request number)',
    '  !approve 1      approve request #1 as the crew; it creates the VE',
    '  !ve ubc 101     the new VE\'s resource counters',
    `!help lists every command; /as shell:bob makes you a student; /quit ends. Log: ${logFile}`,
    '',
  ].join('\n');
}

export async function main(_argv: string[]): Promise<number> {
  const dataDir = path.resolve('.crewvz');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(dataDir, 'crewvz.log');
  const logger = createLogger({ file: logFile });
  await ensurePki(path.join(dataDir, 'pki'));

  const port = await freePort();
  const agent = await startAgent(dataDir, port, logFile);
  const stopOnExit = (): void => {
    agent.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);

  const login = userInfo().username;
  const config: BotConfig = {
    database: path.join(dataDir, 'crewvz.db'),
    pki: path.join(dataDir, 'pki'),
    logLevel: 'info',
    nodes: [{ name: NODE, address: `127.0.0.1:${port}` }],
    roles: { admins: [`shell:${login}`], crew: [] },
    adapters: { shell: { login }, irc: null },
    quotas: { activeVes: 1, pendingRequests: 1 },
    requests: { expireDays: 7, defaultTemplate: null },
    // Often enough that the sim's load shows an alert within a minute or two of a new VE.
    alerts: { ...parseAlertsConfig(undefined).settings, intervalSeconds: DEMO_POLL_SECONDS },
  };
  const interactive = process.stdin.isTTY === true;
  const shell = new ShellAdapter({
    input: process.stdin,
    output: process.stdout,
    login,
    prompt: interactive,
  });

  process.stdout.write(welcome(`shell:${login}`, path.relative(process.cwd(), logFile)));
  let bot: Bot | null = null;
  try {
    bot = await Bot.start({ config, logger: logger.child({ demo: true }), adapters: [shell] });
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
      void shell.done.then(resolve);
    });
  } finally {
    await bot?.stop();
    await stopAgent(agent);
    process.removeListener('exit', stopOnExit);
  }
  return 0;
}
