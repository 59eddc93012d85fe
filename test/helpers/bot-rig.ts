/**
 * A bot on a real SQLite file talking to a real agent child process (`crewvz agent`, sim
 * driver) over mutual TLS, driven through the dispatcher as chat messages.
 *
 *   const agent = await startAgentChild();             // { port, stateDir, stop(), restart() }
 *   const rig = await startBotRig({ port: agent.port }); // { bot, say(), sent, clock, stop() }
 *   const lines = await rig.say('shell:bob', '!ve create');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

import type { ChatAdapter, Destination, Reply } from '../../adapters/types.ts';
import { Bot } from '../../src/bot.ts';
import type { BotConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { parseAlertsConfig } from '../../src/watcher/config.ts';
import { makeTestPki } from './pki.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface AgentChild {
  port: number;
  stateDir: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and state, after stop(). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** `extra` is merged over the agent's config (a templateSource, another name and pki). */
export async function startAgentChild(extra: Record<string, unknown> = {}): Promise<AgentChild> {
  const pki = await makeTestPki();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-agent-child-'));
  const port = await freePort();
  const stateDir = path.join(dir, 'state');
  const configFile = path.join(dir, 'agent.yaml');
  await writeFile(
    configFile,
    stringify({
      name: 'node1',
      listen: `127.0.0.1:${port}`,
      pki: pki.dir,
      driver: 'sim',
      stateDir,
      templates: path.join(dir, 'templates'),
      logLevel: 'warn',
      ...extra,
    }),
  );
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const argv = ['--import', TSX, CLI, 'agent', '--config', configFile];
    const spawned = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    child = spawned;
    const deadline = Date.now() + 15_000;
    while (!(await listening(port))) {
      if (spawned.exitCode !== null || Date.now() > deadline) {
        throw new Error(`test agent did not start (exit ${spawned.exitCode})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    stateDir,
    stop,
    start,
    async cleanup() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stands in for a chat network: records what the bot sends unprompted. */
export class RecordingAdapter implements ChatAdapter {
  readonly sent: { destination: Destination; reply: Reply }[] = [];

  constructor(readonly name = 'shell') {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  async send(destination: Destination, reply: Reply): Promise<void> {
    this.sent.push({ destination, reply });
  }
}

export interface BotRig {
  bot: Bot;
  dir: string;
  database: string;
  adapter: RecordingAdapter;
  clock: { now: Date };
  config: BotConfig;
  /** Sends `text` as `identity` and returns every line the bot answered with. */
  say(identity: string | null, text: string, kind?: 'private' | 'channel'): Promise<string[]>;
  stop(): Promise<void>;
}

export interface RigOptions {
  port: number;
  /** Reuse a database (restart tests); a fresh temp dir otherwise. */
  dir?: string;
  config?: Partial<BotConfig>;
}

export async function startBotRig(options: RigOptions): Promise<BotRig> {
  const pki = await makeTestPki();
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'crewvz-bot-')));
  const database = path.join(dir, 'crewvz.db');
  const config: BotConfig = {
    database,
    pki: pki.dir,
    logLevel: 'silent',
    nodes: [{ name: 'node1', address: `127.0.0.1:${options.port}` }],
    roles: { admins: ['shell:admin', 'shell:ada'], crew: ['irc:crew1', 'irc:crew2'] },
    adapters: { shell: null, irc: null },
    quotas: { activeVes: 1, pendingRequests: 1 },
    requests: { expireDays: 7, defaultTemplate: null },
    // Off unless a test asks: test/alerts-e2e.test.ts drives the watcher's polls itself.
    alerts: { ...parseAlertsConfig(undefined).settings, enabled: false },
    ...options.config,
  };
  const clock = { now: new Date() };
  const adapter = new RecordingAdapter();
  const bot = await Bot.start({
    config,
    logger: silentLogger(),
    adapters: [adapter],
    now: () => clock.now,
  });

  const say = async (
    identity: string | null,
    text: string,
    kind: 'private' | 'channel' = 'private',
  ): Promise<string[]> => {
    const lines: string[] = [];
    await bot.dispatcher.handle(
      {
        adapter: identity?.split(':')[0] ?? 'irc',
        sender: { identity, display: identity ?? 'nobody' },
        conversation: { kind, room: kind === 'channel' ? '#lab' : 'dm' },
        text,
      },
      async (reply) => {
        lines.push(...reply.lines);
      },
    );
    return lines;
  };
  return {
    bot,
    dir,
    database,
    adapter,
    clock,
    config,
    say,
    stop: () => bot.stop(),
  };
}
