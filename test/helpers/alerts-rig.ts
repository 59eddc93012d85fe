/**
 * Beancounter alerts end to end: a real agent child process (sim driver, load off) whose
 * beancounters file the test rewrites, the real bot on a real SQLite file reaching it over
 * mutual TLS, and the real shell adapter writing to a captured screen.
 *
 *   const agent = await startQuietAgent();              // { port, ubcFile, stop(), start() }
 *   const rig = await startAlertsBot({ port: agent.port }); // { bot, screen, say(), poll() }
 *   await editBeancounters(agent.ubcFile, (blocks) => grow(blocks, '101', 'numproc', 2));
 *   await rig.poll(); rig.screen.take();                 // the lines printed since last take
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import {
  formatBeancounters,
  parseBeancounterBlocks,
  toBigInt,
  type BeancounterBlock,
  type BeancounterRow,
} from '../../agent/beancounters.ts';
import { writeFileAtomic } from '../../agent/atomic-file.ts';
import { ShellAdapter } from '../../adapters/shell.ts';
import { Bot } from '../../src/bot.ts';
import type { BotConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { parseAlertsConfig, type AlertsSettings } from '../../src/watcher/config.ts';
import type { BeancounterWatcher } from '../../src/watcher/watcher.ts';
import { startAgentProcess, type AgentProcess } from './agent-process.ts';
import { makeTestPki } from './pki.ts';

const MAIN = fileURLToPath(new URL('./quiet-agent-main.ts', import.meta.url));

export interface QuietAgent extends AgentProcess {
  ubcFile: string;
}

export async function startQuietAgent(): Promise<QuietAgent> {
  const pki = await makeTestPki();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-alerts-agent-'));
  const stateDir = path.join(dir, 'state');
  // The sim writes its beancounters file before the port opens, so both are ready together.
  const agent = await startAgentProcess({
    dir,
    config: {
      name: 'node1',
      pki: pki.dir,
      driver: 'sim',
      stateDir,
      templates: path.join(dir, 'templates'),
    },
    args: (file) => [MAIN, '--config', file],
  });
  return Object.assign(agent, { ubcFile: path.join(stateDir, 'user_beancounters') });
}

/** Reads the agent's beancounters file, lets `edit` change it, and writes it back atomically. */
export async function editBeancounters(
  file: string,
  edit: (blocks: BeancounterBlock[]) => void,
): Promise<void> {
  const blocks = parseBeancounterBlocks(await readFile(file, 'utf8'));
  edit(blocks);
  await writeFileAtomic(file, formatBeancounters(blocks));
}

export function rowOf(blocks: BeancounterBlock[], ve: string, resource: string): BeancounterRow {
  const row = blocks.find((block) => block.id === ve)?.rows.find((r) => r.resource === resource);
  if (!row) {
    throw new Error(`no ${resource} row for VE ${ve} in the beancounters file`);
  }
  return row;
}

/** What the kernel does on each refused allocation: failcnt goes up. */
export function grow(blocks: BeancounterBlock[], ve: string, resource: string, by: number): void {
  const row = rowOf(blocks, ve, resource);
  row.failcnt = toBigInt(row.failcnt) + BigInt(by);
}

/** A VE the sim does not know (made by hand on the node): a copy of `like`'s block. */
export function addForeignVe(blocks: BeancounterBlock[], like: string, id: string): void {
  const source = blocks.find((block) => block.id === like);
  if (!source) {
    throw new Error(`no VE ${like} in the beancounters file`);
  }
  blocks.push({ id, rows: source.rows.map((row) => ({ ...row })) });
}

/**
 * The terminal. The shell adapter prints each message with one write, so every write is kept
 * as one message: that is how a test tells one message of 21 lines from 21 messages.
 */
export class Screen {
  readonly input = new PassThrough();
  readonly output: Writable;
  private messages: string[][] = [];

  constructor() {
    this.output = new Writable({
      write: (chunk: Buffer | string, _encoding, done) => {
        const lines = chunk.toString().split('\n').filter((line) => line !== '');
        this.messages.push(lines);
        done();
      },
    });
  }

  /** The messages printed since the last take, each as its lines. */
  take(): string[][] {
    const taken = this.messages;
    this.messages = [];
    return taken;
  }
}

export interface AlertsBot {
  bot: Bot;
  watcher: BeancounterWatcher;
  screen: Screen;
  dir: string;
  clock: { now: Date };
  /** Runs a command as `identity` through the bot's dispatcher; returns the reply lines. */
  say(identity: string, text: string): Promise<string[]>;
  /** One poll of every node, finished when it returns. */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

export interface AlertsBotOptions {
  port: number;
  /** Reuse a database folder (restart tests); a fresh temp dir otherwise. */
  dir?: string;
  clock?: { now: Date };
  alerts?: Partial<AlertsSettings>;
  quotas?: BotConfig['quotas'];
  /** An IRC adapter beside the shell one. */
  irc?: BotConfig['adapters']['irc'];
}

export const ADMIN = 'shell:admin';

export async function startAlertsBot(options: AlertsBotOptions): Promise<AlertsBot> {
  const pki = await makeTestPki();
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'crewvz-alerts-bot-')));
  const config: BotConfig = {
    database: path.join(dir, 'crewvz.db'),
    pki: pki.dir,
    logLevel: 'silent',
    nodes: [{ name: 'node1', address: `127.0.0.1:${options.port}` }],
    roles: { admins: [ADMIN], crew: ['shell:crew'] },
    adapters: { shell: null, irc: options.irc ?? null },
    quotas: options.quotas ?? { activeVes: 1, pendingRequests: 1 },
    requests: { expireDays: 7, defaultTemplate: null },
    // An hour between timed polls: the tests poll themselves.
    alerts: { ...parseAlertsConfig(undefined).settings, intervalSeconds: 3600, ...options.alerts },
  };
  const clock = options.clock ?? { now: new Date() };
  const screen = new Screen();
  const shell = new ShellAdapter({ input: screen.input, output: screen.output, login: 'admin' });
  const bot = await Bot.start({
    config,
    logger: silentLogger(),
    adapters: [shell],
    now: () => clock.now,
    callTimeoutMs: 5000,
  });
  const watcher = bot.watcher;
  if (watcher === null) {
    throw new Error('the alerts rig needs alerts.enabled');
  }

  // The watcher's first poll is due at once; a timer of the same delay set later fires after
  // it, and pollOnce then joins it, so no timed poll is left to race the test's own polls.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await watcher.pollOnce();

  const say = async (identity: string, text: string): Promise<string[]> => {
    const lines: string[] = [];
    await bot.dispatcher.handle(
      {
        adapter: 'shell',
        sender: { identity, display: identity },
        conversation: { kind: 'private', room: 'terminal' },
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
    watcher,
    screen,
    dir,
    clock,
    say,
    poll: () => watcher.pollOnce(),
    stop: () => bot.stop(),
  };
}
