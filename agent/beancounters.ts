/**
 * Reads and writes /proc/user_beancounters as the OpenVZ kernels print it.
 *
 * Every generation starts with `Version: 2.5` and a header, then one block per beancounter. The
 * uid (`123:`, a VZ7 name, or a UUID right-aligned to 36 columns) appears only on a block's first
 * row; a rendered variant glues it to the resource (`331:kmemsize`). The host block `0` may come
 * first or last, and 2.6.32 prints placeholder `dummy` rows. Unlimited is the kernel's LONG_MAX,
 * which differs between 32- and 64-bit kernels; both may show up in one file.
 */
import { LONG_MAX, UNLIMITED, type UbcRow, type UbcValue } from './protocol.ts';

export const LONG_MAX_32 = 2147483647n;
export const LONG_MAX_64 = LONG_MAX;

/**
 * The memory cgroup's "no limit" (LONG_MAX rounded down to a 4 KiB page), which VZ7 kernels show
 * for the memcg-backed rows. It means unlimited just as LONG_MAX does.
 */
export const MEMCG_UNLIMITED = 9223372036854771712n;

const VERSION_LINE = 'Version: 2.5';
const HEADER = ['uid', 'resource', 'held', 'maxheld', 'barrier', 'limit', 'failcnt'];
const COUNTERS = ['held', 'maxheld', 'barrier', 'limit', 'failcnt'] as const;
const RESOURCE_NAME = /^[a-z][a-z0-9_]*$/;
const DIGITS = /^[0-9]+$/;
const U64_MAX = 18446744073709551615n;

export const HOST_ID = '0';
export const DUMMY_RESOURCE = 'dummy';

/** A value as the writer takes it: a number, an exact bigint, or `unlimited`. */
export type CounterValue = UbcValue | bigint;

export interface BeancounterRow {
  resource: string;
  held: CounterValue;
  maxheld: CounterValue;
  barrier: CounterValue;
  limit: CounterValue;
  failcnt: CounterValue;
}

/** One beancounter: a VE (or the host, id `0`) and its rows in file order. */
export interface BeancounterBlock {
  id: string;
  rows: BeancounterRow[];
}

export class BeancounterParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BeancounterParseError';
  }
}

/**
 * The `ubc` answer: every VE row in file order, without the host block and the `dummy` rows.
 * Throws BeancounterParseError on an unknown version or a line it cannot read.
 */
export function parseBeancounters(text: string): UbcRow[] {
  return flatten(parseBeancounterBlocks(text));
}

/** Every block, host and `dummy` rows included, so a writer can print the file back. */
export function parseBeancounterBlocks(text: string): BeancounterBlock[] {
  const lines = text.split('\n');
  checkVersion(lines[0]);
  checkHeader(lines[1]);

  const blocks: BeancounterBlock[] = [];
  let current: BeancounterBlock | null = null;

  for (let index = 2; index < lines.length; index += 1) {
    const tokens = lines[index].trim().split(/\s+/);
    if (tokens[0] === '') {
      continue;
    }
    const where = `line ${index + 1}`;
    const { id, rest } = splitUid(tokens, where);

    // A uid opens a new block; a row without one continues the block above it.
    if (id !== null) {
      current = { id, rows: [] };
      blocks.push(current);
    } else if (current === null) {
      throw new BeancounterParseError(`${where}: a resource row comes before any uid`);
    }
    current.rows.push(parseRow(rest, where));
  }
  return blocks;
}

/**
 * Reads a per-VE `/proc/bc/ID/resources` file: the same rows with no version line, no header
 * and no uid column. `ve` names the beancounter the file belongs to.
 */
export function parseBeancounterResources(text: string, ve: string): UbcRow[] {
  const rows: BeancounterRow[] = [];
  const lines = text.split('\n');

  for (let index = 0; index < lines.length; index += 1) {
    const tokens = lines[index].trim().split(/\s+/);
    if (tokens[0] === '') {
      continue;
    }
    rows.push(parseRow(tokens, `line ${index + 1}`));
  }
  return flatten([{ id: ve, rows }]);
}

/**
 * Prints blocks in the 64-bit 2.6.32 layout: `"%10s  %-12s"` then five `" %20lu"`, the uid
 * `"%u:"` only on a block's first row. Blocks are printed as given, the host block included.
 */
export function formatBeancounters(blocks: readonly BeancounterBlock[]): string {
  const header =
    `${'uid'.padStart(10)}  ${'resource'.padEnd(12)}` +
    COUNTERS.map((name) => ` ${name.padStart(20)}`).join('');
  const out = [VERSION_LINE, header];

  for (const block of blocks) {
    block.rows.forEach((row, index) => {
      const uid = index === 0 ? `${block.id}:` : '';
      const counters = COUNTERS.map((name) => ` ${toDecimal(row[name]).padStart(20)}`);
      out.push(`${uid.padStart(10)}  ${row.resource.padEnd(12)}${counters.join('')}`);
    });
  }
  return `${out.join('\n')}\n`;
}

/** Turns a parsed value back into the exact number the kernel would print. */
export function toBigInt(value: CounterValue): bigint {
  if (value === UNLIMITED) {
    return LONG_MAX_64;
  }
  if (typeof value === 'bigint') {
    return value;
  }
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`a beancounter value must be a non-negative integer, not ${value}`);
  }
  return BigInt(value);
}

function toDecimal(value: CounterValue): string {
  return toBigInt(value).toString();
}

function flatten(blocks: readonly BeancounterBlock[]): UbcRow[] {
  const rows: UbcRow[] = [];

  for (const block of blocks) {
    if (block.id === HOST_ID) {
      continue;
    }
    for (const row of block.rows) {
      if (row.resource === DUMMY_RESOURCE) {
        continue;
      }
      rows.push({
        ve: block.id,
        resource: row.resource,
        held: toUbcValue(row.held),
        maxheld: toUbcValue(row.maxheld),
        barrier: toUbcValue(row.barrier),
        limit: toUbcValue(row.limit),
        failcnt: toFailcnt(row.failcnt),
      });
    }
  }
  return rows;
}

function checkVersion(line: string | undefined): void {
  const text = (line ?? '').trim();
  if (text !== VERSION_LINE) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
    throw new BeancounterParseError(
      `unknown beancounters version: expected "${VERSION_LINE}" on line 1, got "${shown}"`,
    );
  }
}

function checkHeader(line: string | undefined): void {
  const tokens = (line ?? '').trim().split(/\s+/);
  if (tokens.join(' ') !== HEADER.join(' ')) {
    throw new BeancounterParseError(`line 2: expected the header "${HEADER.join(' ')}"`);
  }
}

/** Finds the uid: a token ending in `:`, or glued to the resource as in `331:kmemsize`. */
function splitUid(tokens: string[], where: string): { id: string | null; rest: string[] } {
  const first = tokens[0];
  const colon = first.lastIndexOf(':');

  if (colon === -1) {
    return { id: null, rest: tokens };
  }
  const id = first.slice(0, colon);
  if (id === '') {
    throw new BeancounterParseError(`${where}: empty uid before ":"`);
  }
  if (colon === first.length - 1) {
    return { id, rest: tokens.slice(1) };
  }
  return { id, rest: [first.slice(colon + 1), ...tokens.slice(1)] };
}

function parseRow(tokens: string[], where: string): BeancounterRow {
  if (tokens.length !== 6) {
    throw new BeancounterParseError(
      `${where}: expected a resource and five numbers, got ${tokens.length} fields`,
    );
  }
  const [resource, ...numbers] = tokens;
  if (!RESOURCE_NAME.test(resource)) {
    throw new BeancounterParseError(`${where}: "${resource.slice(0, 40)}" is not a resource name`);
  }
  const values = numbers.map((text) => parseCounter(text, where));
  const [held, maxheld, barrier, limit, failcnt] = values;
  return { resource, held, maxheld, barrier, limit, failcnt };
}

function parseCounter(text: string, where: string): bigint {
  if (!DIGITS.test(text)) {
    throw new BeancounterParseError(`${where}: "${text.slice(0, 40)}" is not a counter value`);
  }
  const value = BigInt(text);
  if (value > U64_MAX) {
    throw new BeancounterParseError(`${where}: ${text.slice(0, 40)} is larger than 64 bits`);
  }
  return value;
}

/**
 * Both LONG_MAX values and the memcg "no limit" become `unlimited`. Anything else past
 * Number.MAX_SAFE_INTEGER becomes the nearest double: exact to about one part in 10^16, which
 * is plenty for a usage figure, and the wire protocol carries only JSON numbers.
 */
function toUbcValue(value: CounterValue): UbcValue {
  if (typeof value !== 'bigint') {
    return value;
  }
  if (value === LONG_MAX_64 || value === LONG_MAX_32 || value === MEMCG_UNLIMITED) {
    return UNLIMITED;
  }
  return Number(value);
}

/** failcnt counts refusals and never reaches LONG_MAX; a huge value stays a (rounded) number. */
function toFailcnt(value: CounterValue): number {
  if (value === UNLIMITED) {
    return Number(LONG_MAX_64);
  }
  return Number(value);
}
