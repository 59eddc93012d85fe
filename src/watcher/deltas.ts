/**
 * failcnt growth between two polls of one node. Pure: the caller loads the old baselines and
 * stores the new ones.
 *
 * Alerts come from growth per resource since the last poll, never from absolute values or
 * sums: a failcnt of 36 says nothing about now. A reset is decided once per VE, from all of its
 * rows: any row whose failcnt or maxheld fell means the VE's beancounter started again, and then
 * every row counts from 0, so all of its new value is growth (vzubc reports only new − old
 * there and under-counts). A per-row rule misses exactly the row that matters: the resource
 * stuck at its limit keeps its maxheld across the restart, and its counter, back from 0, may
 * pass the old value before the next poll. A new start time with no row fallen is a restart the
 * beancounter outlived (a time-wait bucket kept it alive, or the kernel keeps counters): its
 * counters go on, so growth is new − old as usual. The reset itself is always silent.
 */
import { UNLIMITED, type UbcRow, type UbcValue, type VeStatus } from '../../agent/protocol.ts';
import { resourceKey, type Baseline } from './types.ts';

/** vzctl derives start times as now − uptime, so two polls of a running VE differ slightly. */
export const START_JITTER_MS = 10_000;

export interface Growth {
  ve: string;
  resource: string;
  /** failcnt growth since the last poll, always > 0. */
  delta: number;
  /** The row of this poll, for held, barrier and limit. */
  row: UbcRow;
}

export type ResetReason = 'new start time' | 'failcnt fell' | 'maxheld fell';

/** One VE whose counters started again from 0. */
export interface Reset {
  ve: string;
  reason: ResetReason;
  /** The row that showed it: its failcnt or maxheld fell. */
  resource: string;
}

export interface DeltaResult {
  growth: Growth[];
  /** The new baseline of every row in this poll, keyed by resourceKey(ve, resource). */
  baselines: Map<string, Baseline>;
  resets: Reset[];
  /** Rows seen for the first time: stored, never alerted. */
  firstSeen: number;
}

export interface DeltaOptions {
  jitterMs?: number;
}

interface Paired {
  row: UbcRow;
  old: Baseline | undefined;
  current: Baseline;
}

export function computeDeltas(
  previous: ReadonlyMap<string, Baseline>,
  rows: readonly UbcRow[],
  statuses: readonly VeStatus[],
  options: DeltaOptions = {},
): DeltaResult {
  const jitterMs = options.jitterMs ?? START_JITTER_MS;
  const startedAt = new Map(statuses.map((status) => [String(status.id), status.startedAt]));
  const result: DeltaResult = { growth: [], baselines: new Map(), resets: [], firstSeen: 0 };

  for (const [ve, paired] of pairByVe(previous, rows, startedAt)) {
    const reset = resetOf(ve, paired, jitterMs);
    if (reset !== null) {
      result.resets.push(reset);
    }

    for (const { row, old, current } of paired) {
      result.baselines.set(resourceKey(row.ve, row.resource), current);
      if (old === undefined) {
        result.firstSeen += 1;
        continue;
      }
      const delta = reset === null ? current.failcnt - old.failcnt : current.failcnt;
      if (delta > 0) {
        result.growth.push({ ve: row.ve, resource: row.resource, delta, row });
      }
    }
  }
  return result;
}

/** Each VE's rows in the order of the answer, with their old and new baselines. */
function pairByVe(
  previous: ReadonlyMap<string, Baseline>,
  rows: readonly UbcRow[],
  startedAt: ReadonlyMap<string, string | null>,
): Map<string, Paired[]> {
  const byVe = new Map<string, Paired[]>();
  for (const row of rows) {
    const current: Baseline = {
      failcnt: row.failcnt,
      maxheld: row.maxheld,
      startedAt: startedAt.get(row.ve) ?? null,
    };
    const old = previous.get(resourceKey(row.ve, row.resource));
    byVe.set(row.ve, [...(byVe.get(row.ve) ?? []), { row, old, current }]);
  }
  return byVe;
}

function resetOf(ve: string, paired: readonly Paired[], jitterMs: number): Reset | null {
  const known = paired.filter((pair) => pair.old !== undefined);
  const first = known[0];
  if (first === undefined) {
    return null;
  }

  const fallen = fallenRow(known);
  if (fallen === null) {
    return null;
  }
  if (startChanged(first.old?.startedAt ?? null, first.current.startedAt, jitterMs)) {
    return { ve, reason: 'new start time', resource: fallen.resource };
  }
  return { ve, reason: fallen.reason, resource: fallen.resource };
}

/** The first row whose failcnt or maxheld is lower than at the last poll, if any. */
function fallenRow(
  known: readonly Paired[],
): { reason: 'failcnt fell' | 'maxheld fell'; resource: string } | null {
  for (const { row, old, current } of known) {
    const before = old as Baseline;
    if (current.failcnt < before.failcnt) {
      return { reason: 'failcnt fell', resource: row.resource };
    }
    if (numeric(current.maxheld) < numeric(before.maxheld)) {
      return { reason: 'maxheld fell', resource: row.resource };
    }
  }
  return null;
}

/** Unknown now (null) is no evidence of a restart; unknown before and known now is. */
function startChanged(old: string | null, current: string | null, jitterMs: number): boolean {
  if (current === null) {
    return false;
  }
  if (old === null) {
    return true;
  }
  const before = Date.parse(old);
  const now = Date.parse(current);
  if (Number.isNaN(before) || Number.isNaN(now)) {
    return old !== current;
  }
  return Math.abs(now - before) > jitterMs;
}

function numeric(value: UbcValue): number {
  return value === UNLIMITED ? Number.POSITIVE_INFINITY : value;
}
