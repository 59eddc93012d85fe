/**
 * What a beancounter means in plain words, and a `!ve set` with raised values that a crew member
 * could run. The wording follows vzctl(8) "User Beancounter limits" and the OpenVZ wiki's
 * Resource_shortage page; the raise follows its advice: raise carefully, keep the gap between
 * barrier and limit, and never send the kernel's LONG_MAX back (vzctl takes `unlimited`).
 */
import {
  RESOURCE_UNITS,
  UNLIMITED,
  type ResourceUnit,
  type UbcRow,
  type UbcValue,
} from '../../agent/protocol.ts';

interface Meaning {
  /** What ran out, finishing "you ran out of …". */
  what: string;
  /** What the refusals did to the programs in the VE. */
  effect: string;
}

const MEMORY_REFUSED =
  'programs asking for more memory were refused, so they may crash or not start';
const SOCKET_REFUSED = 'programs could not open more network connections or sockets';

const MEANINGS: Readonly<Record<string, Meaning>> = {
  kmemsize: {
    what: 'kernel memory for your processes',
    effect: 'the kernel refused work for your processes (each needs some kernel memory)',
  },
  lockedpages: { what: 'memory your programs may lock in RAM', effect: MEMORY_REFUSED },
  privvmpages: { what: 'memory your programs may allocate', effect: MEMORY_REFUSED },
  shmpages: { what: 'shared memory (IPC)', effect: 'programs could not get more shared memory' },
  numproc: { what: 'processes', effect: 'new processes or threads could not be started' },
  physpages: { what: 'RAM', effect: 'the VE used all its RAM' },
  vmguarpages: { what: 'guaranteed memory', effect: MEMORY_REFUSED },
  oomguarpages: {
    what: 'memory protected from the out-of-memory killer',
    effect: 'processes were killed because memory ran out',
  },
  numtcpsock: { what: 'TCP connections', effect: SOCKET_REFUSED },
  numflock: { what: 'file locks', effect: 'programs could not lock more files' },
  numpty: { what: 'terminals (PTYs)', effect: 'new logins or terminals could not be opened' },
  numsiginfo: { what: 'pending signals', effect: 'signals between processes could not be queued' },
  tcpsndbuf: { what: 'TCP send buffers', effect: 'network programs could not send as much' },
  tcprcvbuf: { what: 'TCP receive buffers', effect: 'network programs could not receive as much' },
  othersockbuf: {
    what: 'send buffers of UDP and local sockets',
    effect: 'programs could not send on UDP or local sockets',
  },
  dgramrcvbuf: {
    what: 'receive buffers of UDP sockets',
    effect: 'incoming UDP messages were dropped',
  },
  numothersock: { what: 'UDP and local sockets', effect: SOCKET_REFUSED },
  dcachesize: {
    what: 'kernel cache for file and directory names',
    effect: 'file operations failed with an error',
  },
  numfile: { what: 'open files', effect: 'programs could not open more files' },
  numiptent: { what: 'firewall (iptables) rules', effect: 'firewall rules could not be added' },
  swappages: { what: 'swap space', effect: 'the VE used all its swap' },
};

/** Resources that need limit > barrier: equal values can get processes killed (vzctl(8)). */
const NEEDS_GAP = new Set(['kmemsize', 'dcachesize', 'numflock', 'tcpsndbuf', 'tcprcvbuf']);

/** How much a suggestion raises the barrier (or a lone limit). */
export const RAISE_FACTOR = 1.5;

/** The gap added above the barrier where NEEDS_GAP wants one and the row has none. */
const GAP_FACTOR = 0.1;

/**
 * LONG_MAX of a 32-bit kernel: no value there can be larger. The `ubc` answer does not say which
 * kernel printed it, so a raise stops here unless the row already holds a larger number (which
 * only a 64-bit kernel prints).
 */
export const LONG_MAX_32 = 2147483647;

/** Rounding steps in each unit: 1 MiB of pages, 1 KiB of bytes, single items. */
const STEP = { pages: 256, bytes: 1024, items: 1 } as const;

export function meaningOf(resource: string): Meaning {
  return MEANINGS[resource] ?? { what: resource, effect: 'programs were refused a resource' };
}

export interface Suggestion {
  barrier: string;
  limit: string;
}

/**
 * Raised barrier and limit in the resource's own unit (pages, bytes or items: what vzctl reads
 * without a suffix), or null when there is nothing to raise from: both unlimited already, or a
 * limit of 0 (noRaiseReason says which).
 */
export function suggestLimits(row: UbcRow): Suggestion | null {
  const { barrier, limit } = row;

  // Nothing caps the resource (a guarantee, or barrier 0 with no limit): raising cannot help.
  if (limit === UNLIMITED && (barrier === UNLIMITED || barrier === 0)) {
    return null;
  }
  // A limit of 0 (swappages 0:0: no swap at all) gives a factor nothing to work on.
  if (limit === 0) {
    return null;
  }
  const ceiling = ceilingOf(row);
  if (limit === UNLIMITED) {
    const raised = Math.min(raise(row.resource, barrier as number), ceiling);
    return { barrier: show(raised), limit: UNLIMITED };
  }

  // Barrier 0 (physpages, swappages) or a barrier above the limit: only the limit counts.
  if (barrier === UNLIMITED || barrier === 0 || barrier > limit) {
    const raised = raise(row.resource, limit);
    if (barrier === 0) {
      return { barrier: '0', limit: show(Math.min(raised, ceiling)) };
    }
    const gap = NEEDS_GAP.has(row.resource) ? gapAbove(row.resource, raised) : 0;
    return capped(raised, gap, ceiling);
  }

  const newBarrier = raise(row.resource, barrier);
  let gap = limit - barrier;
  if (gap === 0 && NEEDS_GAP.has(row.resource)) {
    gap = gapAbove(row.resource, newBarrier);
  }
  return capped(newBarrier, gap, ceiling);
}

/** Why suggestLimits has nothing for this row, in words for the VE's owner. */
export function noRaiseReason(row: UbcRow): string {
  if (row.limit === 0) {
    return 'Its limit is 0 (none of it is allowed), so there is nothing to raise by a factor:' +
      ' ask the crew which value to set.';
  }
  return 'Its limit is unlimited already, so raising it cannot help: ask the crew.';
}

/** The `!ve set` line for a suggestion, or null when there is nothing to raise. */
export function suggestCommand(row: UbcRow): string | null {
  const suggestion = suggestLimits(row);
  if (suggestion === null) {
    return null;
  }
  return `!ve set ${row.ve} ${row.resource} ${suggestion.barrier}:${suggestion.limit}`;
}

/** Resources missing from the table are counted as items: no suffix, whole numbers. */
function unitOf(resource: string): ResourceUnit {
  return RESOURCE_UNITS[resource] ?? 'items';
}

function raise(resource: string, value: number): number {
  const raised = roundUp(resource, value * RAISE_FACTOR);
  return raised > value ? raised : value + STEP[unitOf(resource)];
}

function gapAbove(resource: string, barrier: number): number {
  return Math.max(roundUp(resource, barrier * GAP_FACTOR), STEP[unitOf(resource)]);
}

/** Barrier and limit with the limit at most `ceiling`; the barrier keeps its gap below it. */
function capped(barrier: number, gap: number, ceiling: number): Suggestion {
  const limit = Math.min(barrier + gap, ceiling);
  return { barrier: show(Math.min(barrier, limit - gap)), limit: show(limit) };
}

/** The largest value the row's kernel takes, as far as the row tells (see LONG_MAX_32). */
function ceilingOf(row: UbcRow): number {
  const values = [row.held, row.maxheld, row.barrier, row.limit];
  const wide = values.some((value) => value !== UNLIMITED && value > LONG_MAX_32);
  return wide ? Number.POSITIVE_INFINITY : LONG_MAX_32;
}

function roundUp(resource: string, value: number): number {
  const step = STEP[unitOf(resource)];
  return Math.ceil(value / step) * step;
}

/** Past what a double holds exactly, the value is as good as unlimited and vzctl takes that. */
function show(value: UbcValue): string {
  if (value === UNLIMITED || value > Number.MAX_SAFE_INTEGER) {
    return UNLIMITED;
  }
  return String(value);
}
