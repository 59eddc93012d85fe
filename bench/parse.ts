/**
 * Parsing /proc/user_beancounters as the agent does for every `ubc` (and the watcher asks for
 * one every poll): a 1000-VE host in the 64-bit format, printed by formatBeancounters.
 */
import { formatBeancounters, parseBeancounters } from '../agent/beancounters.ts';
import type { Figure } from './report.ts';
import { median, MIB, timeEach } from './stats.ts';
import { RESOURCES_PER_VE, syntheticBlocks } from './synthetic.ts';

const SECTION = 'beancounters';
export const PARSE_VES = 1000;
const WARMUP_RUNS = 3;
const RUNS = 21;

export async function measureParse(): Promise<Figure[]> {
  const text = formatBeancounters(syntheticBlocks(PARSE_VES));
  const parse = async (): Promise<void> => {
    const rows = parseBeancounters(text);
    // The host block is dropped; anything else missing means the parser skipped real rows.
    if (rows.length !== PARSE_VES * RESOURCES_PER_VE) {
      throw new Error(`parsed ${rows.length} rows, expected ${PARSE_VES * RESOURCES_PER_VE}`);
    }
  };

  await timeEach(WARMUP_RUNS, parse);
  const runs = await timeEach(RUNS, parse);
  const bytes = Buffer.byteLength(text);

  return [
    { key: 'parse.median', section: SECTION, label: `parse ${PARSE_VES} VEs, median of ${RUNS}`,
      value: median(runs), unit: 'ms' },
    { key: 'parse.max', section: SECTION, label: 'parse, slowest run', value: Math.max(...runs),
      unit: 'ms' },
    { key: 'parse.bytes', section: SECTION, label: 'file size', value: bytes / MIB, unit: 'MiB' },
    { key: 'parse.rate', section: SECTION, label: 'parse rate',
      value: bytes / MIB / (median(runs) / 1000), unit: 'MiB/s' },
  ];
}
