/**
 * The simulated workload behind the sim driver's beancounters file: default limits for a new VE,
 * counters that start and stop with it, and a tick that moves usage around and now and then
 * pushes a resource into its barrier so that failcnt rises, as a busy student VE would.
 */
import {
  DUMMY_RESOURCE,
  HOST_ID,
  LONG_MAX_32,
  LONG_MAX_64,
  MEMCG_UNLIMITED,
  toBigInt,
  type BeancounterBlock,
  type BeancounterRow,
} from './beancounters.ts';
import { UNLIMITED } from './protocol.ts';
import type { SimVe } from './sim-state.ts';

/** The rows of /proc/user_beancounters on a 2.6.32 kernel, dummy placeholders included. */
export const SIM_RESOURCES: readonly string[] = [
  'kmemsize', 'lockedpages', 'privvmpages', 'shmpages', DUMMY_RESOURCE, 'numproc', 'physpages',
  'vmguarpages', 'oomguarpages', 'numtcpsock', 'numflock', 'numpty', 'numsiginfo', 'tcpsndbuf',
  'tcprcvbuf', 'othersockbuf', 'dgramrcvbuf', 'numothersock', 'dcachesize', 'numfile',
  DUMMY_RESOURCE, DUMMY_RESOURCE, DUMMY_RESOURCE, 'numiptent',
];

/**
 * Whether the kernel's /proc/user_beancounters shows `resource`. swappages is not among them:
 * it appears only in /proc/bc/ID/resources (facts file §2.1).
 */
export function inBeancountersFile(resource: string): boolean {
  return resource !== DUMMY_RESOURCE && SIM_RESOURCES.includes(resource);
}

const U = LONG_MAX_64;

/** barrier:limit of a small VSwap VE (256 MiB RAM), in each resource's own unit. */
export const DEFAULT_LIMITS: Readonly<Record<string, readonly [bigint, bigint]>> = {
  kmemsize: [14372700n, 14790164n],
  lockedpages: [256n, 256n],
  privvmpages: [65536n, 69632n],
  shmpages: [21504n, 21504n],
  numproc: [240n, 240n],
  physpages: [0n, 65536n],
  vmguarpages: [33792n, U],
  oomguarpages: [26112n, U],
  numtcpsock: [360n, 360n],
  numflock: [188n, 206n],
  numpty: [16n, 16n],
  numsiginfo: [256n, 256n],
  tcpsndbuf: [1720320n, 2703360n],
  tcprcvbuf: [1720320n, 2703360n],
  othersockbuf: [1126080n, 2097152n],
  dgramrcvbuf: [262144n, 262144n],
  numothersock: [360n, 360n],
  dcachesize: [3409920n, 3624960n],
  numfile: [9312n, 9312n],
  numiptent: [128n, 128n],
  swappages: [0n, 131072n],
};

/** Resources a runaway student process typically exhausts; the tick picks one to fail. */
const FAIL_CANDIDATES = [
  'numproc',
  'privvmpages',
  'kmemsize',
  'numtcpsock',
  'numfile',
  'dcachesize',
];

/** Chance per running VE per tick that a resource hits its barrier. */
const FAIL_CHANCE = 0.08;

/** A running VE that has not failed for this many ticks fails on the next one, for demos. */
export const FAIL_EVERY_TICKS = 12;

/** Scale for a row whose barrier and limit are both unlimited or zero. */
const UNBOUNDED_SCALE = 4096;

export type Random = () => number;

/** A block of zero counters with the given barrier:limit per resource (defaults elsewhere). */
export function newBlock(
  id: string,
  limits: Readonly<Record<string, { barrier: string; limit: string }>>,
): BeancounterBlock {
  const rows = SIM_RESOURCES.map((resource): BeancounterRow => {
    if (resource === DUMMY_RESOURCE) {
      return { resource, held: 0n, maxheld: 0n, barrier: 0n, limit: 0n, failcnt: 0n };
    }
    const saved = limits[resource];
    const [barrier, limit] = saved
      ? [BigInt(saved.barrier), BigInt(saved.limit)]
      : (DEFAULT_LIMITS[resource] ?? [U, U]);
    return { resource, held: 0n, maxheld: 0n, barrier, limit, failcnt: 0n };
  });
  return { id, rows };
}

/** The file as a freshly booted node would show it: the host, then every VE of the state. */
export function blocksFromState(ves: readonly SimVe[], random: Random): BeancounterBlock[] {
  const blocks = [hostBlock(random)];

  for (const ve of ves) {
    const block = newBlock(String(ve.id), ve.limits);
    if (ve.state === 'running') {
      startCounters(block, random);
    }
    blocks.push(block);
  }
  return blocks;
}

/** The VE's block, added with its saved limits if someone rewrote the file without it. */
export function blockFor(blocks: BeancounterBlock[], ve: SimVe): BeancounterBlock {
  const id = String(ve.id);
  let block = blocks.find((candidate) => candidate.id === id);
  if (!block) {
    block = newBlock(id, ve.limits);
    blocks.push(block);
  }
  return block;
}

/** The block's row for `resource`, added with zero counters if the file lacked it. */
export function rowFor(block: BeancounterBlock, resource: string): BeancounterRow {
  let row = block.rows.find((candidate) => candidate.resource === resource);
  if (!row) {
    row = { resource, held: 0n, maxheld: 0n, barrier: 0n, limit: 0n, failcnt: 0n };
    block.rows.push(row);
  }
  return row;
}

/** The host's own beancounter: real usage, never limited. */
export function hostBlock(random: Random): BeancounterBlock {
  const rows = SIM_RESOURCES.map((resource): BeancounterRow => {
    if (resource === DUMMY_RESOURCE) {
      return { resource, held: 0n, maxheld: 0n, barrier: 0n, limit: 0n, failcnt: 0n };
    }
    const held = BigInt(Math.round(UNBOUNDED_SCALE * (1 + random() * 8)));
    return { resource, held, maxheld: held * 2n, barrier: U, limit: U, failcnt: 0n };
  });
  return { id: HOST_ID, rows };
}

/** A stopped VE holds nothing, and a restart begins a new accounting period. */
export function zeroCounters(block: BeancounterBlock): void {
  for (const row of block.rows) {
    row.held = 0n;
    row.maxheld = 0n;
    row.failcnt = 0n;
  }
}

/** What a freshly booted VE holds: a little of everything, no failures yet. */
export function startCounters(block: BeancounterBlock, random: Random): void {
  zeroCounters(block);
  for (const row of block.rows) {
    if (row.resource !== DUMMY_RESOURCE) {
      row.held = BigInt(Math.round(scaleOf(row) * (0.05 + 0.1 * random())));
      row.maxheld = row.held;
    }
  }
}

/**
 * One step of load on one running VE's block: usage drifts towards a random level, and either
 * by chance or because it is overdue one resource is pushed into its barrier (failcnt grows).
 * Returns whether a failure was simulated.
 */
export function tickBlock(block: BeancounterBlock, random: Random, overdue: boolean): boolean {
  for (const row of block.rows) {
    if (row.resource === DUMMY_RESOURCE) {
      continue;
    }
    const target = scaleOf(row) * (0.1 + 0.5 * random());
    const held = Math.round((Number(toBigInt(row.held)) * 3 + target) / 4);
    row.held = BigInt(held);
    row.maxheld = maxOf(row.maxheld, row.held);
  }
  if (!overdue && random() >= FAIL_CHANCE) {
    return false;
  }
  const candidates = block.rows.filter(
    (row) => FAIL_CANDIDATES.includes(row.resource) && isFinitePositive(row.barrier),
  );
  if (candidates.length === 0) {
    return false;
  }
  const row = candidates[Math.floor(random() * candidates.length) % candidates.length];
  row.held = isFinitePositive(row.limit) ? toBigInt(row.limit) : toBigInt(row.barrier);
  row.maxheld = maxOf(row.maxheld, row.held);
  row.failcnt = toBigInt(row.failcnt) + 1n + BigInt(Math.floor(random() * 3));
  return true;
}

/**
 * One tick of load over the whole file: every running VE's block moves; `quietTicks` counts,
 * per VE, the ticks since its last simulated failure.
 */
export function loadStep(
  blocks: BeancounterBlock[],
  ves: readonly SimVe[],
  random: Random,
  quietTicks: Map<string, number>,
): void {
  for (const ve of ves) {
    if (ve.state !== 'running') {
      continue;
    }
    const key = String(ve.id);
    const quiet = (quietTicks.get(key) ?? 0) + 1;
    const failed = tickBlock(blockFor(blocks, ve), random, quiet >= FAIL_EVERY_TICKS);
    quietTicks.set(key, failed ? 0 : quiet);
  }
}

/** The size usage is measured against: the barrier, else the limit (VSwap physpages has 0:RAM). */
function scaleOf(row: BeancounterRow): number {
  if (isFinitePositive(row.barrier)) {
    return Number(toBigInt(row.barrier));
  }
  if (isFinitePositive(row.limit)) {
    return Number(toBigInt(row.limit));
  }
  return UNBOUNDED_SCALE;
}

function isFinitePositive(value: BeancounterRow['barrier']): boolean {
  if (value === UNLIMITED) {
    return false;
  }
  const exact = toBigInt(value);
  return exact > 0n && exact !== LONG_MAX_32 && exact < MEMCG_UNLIMITED;
}

function maxOf(a: BeancounterRow['held'], b: BeancounterRow['held']): bigint {
  const x = toBigInt(a);
  const y = toBigInt(b);
  return x > y ? x : y;
}
