/**
 * Round trips over one persistent mutual-TLS link, through the bot's real AgentClient: `ping`
 * (the floor: no driver work) and `status ID` (the sim driver reads its state), one call at a
 * time, then `status` with 32 calls in flight at once, as the watcher and busy chat would.
 */
import type { AgentClient } from '../src/agent-client.ts';
import type { Figure } from './report.ts';
import { nowMs, percentiles, timeEach } from './stats.ts';

const SECTION = 'agent link';
const WARMUP_CALLS = 500;
export const SEQUENTIAL_CALLS = 2000;
const PIPELINE_DEPTH = 32;
const PIPELINED_CALLS = 6400;

export interface LinkLatency {
  figures: Figure[];
  /** Median `status` round trip, for the ratios in connect-cost.ts. */
  statusP50Ms: number;
}

export async function measureLink(client: AgentClient, ve: number): Promise<LinkLatency> {
  const ping = (): Promise<unknown[]> => client.call('ping', []);
  const status = (): Promise<unknown[]> => client.call('status', [ve]);

  // JIT, TLS session and the agent's own first-call work stay out of the figures.
  await timeEach(WARMUP_CALLS, ping);
  await timeEach(WARMUP_CALLS, status);

  const pings = percentiles(await timeEach(SEQUENTIAL_CALLS, ping));
  const statuses = percentiles(await timeEach(SEQUENTIAL_CALLS, status));
  const rate = await pipelinedRate(status);

  const figures: Figure[] = [];
  for (const [name, stats] of [['ping', pings], ['status', statuses]] as const) {
    for (const quantile of ['p50', 'p95', 'p99'] as const) {
      figures.push({
        key: `link.${name}.${quantile}`,
        section: SECTION,
        label: `${name} ${quantile}, ${SEQUENTIAL_CALLS} sequential`,
        value: stats[quantile],
        unit: 'ms',
      });
    }
  }
  figures.push({
    key: 'link.status.pipelined',
    section: SECTION,
    label: `status, ${PIPELINE_DEPTH} in flight`,
    value: rate,
    unit: 'calls/s',
  });
  return { figures, statusP50Ms: statuses.p50 };
}

/** Keeps PIPELINE_DEPTH calls outstanding until PIPELINED_CALLS have been answered. */
async function pipelinedRate(call: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < PIPELINED_CALLS) {
      started += 1;
      await call();
    }
  };

  const begun = nowMs();
  await Promise.all(Array.from({ length: PIPELINE_DEPTH }, lane));
  const seconds = (nowMs() - begun) / 1000;
  return PIPELINED_CALLS / seconds;
}
