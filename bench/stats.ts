/**
 * Small statistics for the benchmark: percentiles by nearest rank (no interpolation, so a p99
 * is a latency some call really had) and a clock in milliseconds.
 */
import { readFile } from 'node:fs/promises';

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of samples sorted ascending; `p` is 0-100. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    throw new RangeError('percentile of no samples');
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

/** Milliseconds since an arbitrary origin, sub-microsecond resolution. */
export function nowMs(): number {
  return performance.now();
}

/** Runs `work` `count` times one after another and returns each run's duration in ms. */
export async function timeEach(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];

  for (let index = 0; index < count; index += 1) {
    const started = nowMs();
    await work();
    samples.push(nowMs() - started);
  }
  return samples;
}

/** The resident set of a process in bytes, from /proc/PID/status (Linux only). */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) {
    throw new Error(`no VmRSS line in /proc/${pid}/status: is this Linux?`);
  }
  return Number(match[1]) * 1024;
}

export const MIB = 1024 * 1024;
