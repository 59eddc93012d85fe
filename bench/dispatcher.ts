/**
 * Dispatcher throughput and the bot's memory, measured in a bot process of its own
 * (bench/bot-process.ts) so that the heap figure is the bot's, not the benchmark's.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { BenchPki } from './agent-child.ts';
import type { BotProcessResult } from './bot-process.ts';
import type { Figure } from './report.ts';
import { MIB } from './stats.ts';

const ENTRY = fileURLToPath(new URL('./bot-process.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const SECTION = 'dispatcher';

export async function measureDispatcher(
  root: string,
  pki: BenchPki,
  agentPort: number,
): Promise<Figure[]> {
  const argv = [
    '--expose-gc', '--import', TSX, ENTRY,
    '--pki', pki.dir, '--port', String(agentPort), '--dir', root,
  ];
  const result = await runChild(argv);

  return [
    { key: 'dispatch.rate', section: SECTION,
      label: `${result.commands} read-only commands, one at a time`,
      value: result.commands / result.seconds, unit: 'cmds/s' },
    { key: 'dispatch.p95', section: SECTION, label: 'one command, p95', value: result.p95Ms,
      unit: 'ms' },
    { key: 'memory.bot.heap', section: 'memory', label: 'bot heap after the dispatcher run',
      value: result.heapUsedBytes / MIB, unit: 'MiB' },
    { key: 'memory.bot.rss', section: 'memory', label: 'bot RSS after the dispatcher run',
      value: result.rssBytes / MIB, unit: 'MiB' },
  ];
}

async function runChild(argv: string[]): Promise<BotProcessResult> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });

  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`the bot process failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  }
  return JSON.parse(last) as BotProcessResult;
}
