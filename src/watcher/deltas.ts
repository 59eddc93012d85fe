/**
 * failcnt growth between two polls of one node. Pure: the caller loads the old baselines and
 * stores the new ones.
 *
 * Alerts come from growth per resource since the last poll, never from absolute values or
 * sums: a failcnt of 36 says nothing about now. Counters restart at 0 when a VE restarts, but
 * not always (time-wait buckets keep a beancounter alive; some kernels keep counters), so a
 * restart is recognised from a falling failcnt, or from a new start time together with a
 * falling maxheld. The reset itself is silent; after it the counter counted from 0, so all of
 * its new value is growth (vzubc reports only new − old there and under-counts).
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

export type ResetReason = 'failcnt fell' | 'restarted';

export interface Reset {
  ve: string;
  resource: string;
  reason: ResetReason;
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

export function computeDeltas(
  previous: ReadonlyMap<string, Baseline>,
  rows: readonly UbcRow[],
  statuses: readonly VeStatus[],
  options: DeltaOptions = {},
): DeltaResult {
  const jitterMs = options.jitterMs ?? START_JITTER_MS;
  const startedAt = new Map(statuses.map((status) => [String(status.id), status.startedAt]));
  const result: DeltaResult = { growth: [], baselines: new Map(), resets: [], firstSeen: 0 };

  for (const row of rows) {
    const key = resourceKey(row.ve, row.resource);
    const current: Baseline = {
      failcnt: row.failcnt,
      maxheld: row.maxheld,
      startedAt: startedAt.get(row.ve) ?? null,
    };
    result.baselines.set(key, current);

    const old = previous.get(key);
    if (old === undefined) {
      result.firstSeen += 1;
      continue;
    }

    const reset = resetReason(old, current, jitterMs);
    const delta = reset === null ? current.failcnt - old.failcnt : current.failcnt;
    if (reset !== null) {
      result.resets.push({ ve: row.ve, resource: row.resource, reason: reset });
    }
    if (delta > 0) {
      result.growth.push({ ve: row.ve, resource: row.resource, delta, row });
    }
  }
  return result;
}

function resetReason(old: Baseline, current: Baseline, jitterMs: number): ResetReason | null {
  if (current.failcnt < old.failcnt) {
    return 'failcnt fell';
  }

  // A new start time alone is not enough: when the kernel kept the counters, maxheld stays.
  if (startChanged(old.startedAt, current.startedAt, jitterMs)) {
    if (numeric(current.maxheld) < numeric(old.maxheld)) {
      return 'restarted';
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
