/**
 * `node --expose-gc --import tsx bench/bot-process.ts --pki DIR --port N --dir DIR`: a bot of
 * its own (real config parsing, store on a SQLite file, dispatcher, link to the agent child)
 * that runs the read-only chat commands one after another and prints one JSON line of figures.
 * A process of its own so that its heap is the bot's and nothing of the benchmark's.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

import type { InboundMessage } from '../adapters/types.ts';
import { Bot } from '../src/bot.ts';
import { parseConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { nowMs, percentiles } from './stats.ts';

export const DISPATCHED_COMMANDS = 2000;
const WARMUP_COMMANDS = 200;
const OPEN_REQUESTS = 20;

export interface BotProcessResult {
  commands: number;
  seconds: number;
  p50Ms: number;
  p95Ms: number;
  heapUsedBytes: number;
  rssBytes: number;
}

/**
 * Two students and a crew member take turns: identity, help text, the queue of open requests.
 * `lines` is the fewest reply lines a real answer has, so a refusal cannot pass for one.
 */
const SCRIPT: ReadonlyArray<{ identity: string; text: string; lines: number }> = [
  { identity: 'irc:student3', text: '!whoami', lines: 1 },
  { identity: 'irc:student4', text: '!help', lines: 5 },
  { identity: 'irc:crew1', text: '!requests', lines: OPEN_REQUESTS },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { pki: { type: 'string' }, port: { type: 'string' }, dir: { type: 'string' } },
  });
  if (!values.pki || !values.port || !values.dir) {
    throw new Error('usage: bot-process.ts --pki DIR --port N --dir DIR');
  }
  const { config } = parseConfig(
    {
      database: 'crewvz.db',
      pki: values.pki,
      logLevel: 'info',
      nodes: [{ name: 'node1', address: `127.0.0.1:${values.port}` }],
      roles: { admins: ['shell:admin'], crew: ['irc:crew1'] },
      adapters: { shell: { login: 'admin' } },
      alerts: { enabled: false },
    },
    values.dir,
  );
  const logger = createLogger({ level: config.logLevel, file: path.join(values.dir, 'bot.log') });
  const bot = await Bot.start({ config, logger });

  try {
    seedRequests(bot);
    await run(bot, WARMUP_COMMANDS);
    const result = await measure(bot);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await bot.stop();
  }
}

function seedRequests(bot: Bot): void {
  const at = new Date().toISOString();
  for (let index = 0; index < OPEN_REQUESTS; index += 1) {
    bot.services.store.requests.insert({
      requester: `irc:student${index}`,
      username: `student${index}`,
      template: 'debian-12-x86_64',
      at,
      origin: null,
    });
  }
}

/** Sends `count` commands in turn; returns each one's time from message to last reply line. */
async function run(bot: Bot, count: number): Promise<number[]> {
  const samples: number[] = [];

  for (let index = 0; index < count; index += 1) {
    const step = SCRIPT[index % SCRIPT.length] as (typeof SCRIPT)[number];
    const { identity, text, lines: expected } = step;
    const message: InboundMessage = {
      adapter: 'irc',
      sender: { identity, display: identity.slice(4) },
      conversation: { kind: 'private', room: 'dm' },
      text,
    };
    let lines = 0;
    const started = nowMs();
    await bot.dispatcher.handle(message, async (reply) => {
      lines += reply.lines.length;
    });
    samples.push(nowMs() - started);
    if (lines < expected) {
      throw new Error(`the bot answered ${text} from ${identity} with ${lines} line(s)`);
    }
  }
  return samples;
}

async function measure(bot: Bot): Promise<BotProcessResult> {
  const started = nowMs();
  const samples = await run(bot, DISPATCHED_COMMANDS);
  const seconds = (nowMs() - started) / 1000;
  const { p50, p95 } = percentiles(samples);

  // Live heap only: garbage not yet collected is no promise about the bot's size.
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  return {
    commands: DISPATCHED_COMMANDS,
    seconds,
    p50Ms: p50,
    p95Ms: p95,
    heapUsedBytes: memory.heapUsed,
    rssBytes: memory.rss,
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`bot-process: ${error instanceof Error ? error.stack : error}\n`);
  process.exitCode = 1;
});
