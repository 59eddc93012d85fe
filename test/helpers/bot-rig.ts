/**
 * A bot on a real SQLite file talking to a real agent child process (`crewvz agent`, sim
 * driver) over mutual TLS, driven through the dispatcher as chat messages.
 *
 *   const agent = await startAgentChild();             // { port, stateDir, stop(), start() }
 *   const rig = await startBotRig({ port: agent.port }); // { bot, say(), sent, clock, stop() }
 *   const lines = await rig.say('shell:bob', '!ve create');
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ChatAdapter, Destination, Reply } from '../../adapters/types.ts';
import { Bot } from '../../src/bot.ts';
import type { BotConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { parseAlertsConfig } from '../../src/watcher/config.ts';
import { startAgentProcess, type AgentProcess } from './agent-process.ts';
import { makeTestPki } from './pki.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface AgentChild extends AgentProcess {
  stateDir: string;
}
/** Kept for tests that need a port nobody listens on. */
export { freePort } from '../../src/demo-agent.ts';

/** `extra` is merged over the agent's config (a templateSource, another name and pki). */
export async function startAgentChild(extra: Record<string, unknown> = {}): Promise<AgentChild> {
  const pki = await makeTestPki();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-agent-child-'));
  const stateDir = path.join(dir, 'state');
  const config = {
    name: 'node1',
    pki: pki.dir,
    driver: 'sim',
    stateDir,
    templates: path.join(dir, 'templates'),
    ...extra,
  };
  const agent = await startAgentProcess({
    dir,
    config,
    args: (file) => [CLI, 'agent', '--config', file],
  });
  return Object.assign(agent, { stateDir });
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
