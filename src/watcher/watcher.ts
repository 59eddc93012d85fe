/**
 * The poll loop: every `intervalSeconds` it polls every node's `ubc` (all VEs, one call) and
 * `list`, a few nodes at a time. The next poll is scheduled only when the last one is done, so
 * polls never overlap, and the timer is unref'd so the watcher never keeps the process alive.
 */
import type { Logger } from 'pino';
import { DEFAULT_COOLDOWN_MS } from './cooldown.ts';
import { START_JITTER_MS } from './deltas.ts';
import { pollNode, type PollContext } from './node-poll.ts';
import type { BaselineStore, NodeSource, Notifier, OwnerLookup } from './types.ts';

export const DEFAULT_INTERVAL_SECONDS = 60;
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_UNREACHABLE_AFTER = 3;

export interface WatcherOptions {
  store: BaselineStore;
  nodes: NodeSource;
  owners: OwnerLookup;
  notifier: Notifier;
  logger: Logger;
  intervalSeconds?: number;
  cooldownSeconds?: number;
  /** Nodes polled at the same time. */
  concurrency?: number;
  /** Failed polls in a row before the crew hears that a node is unreachable. */
  unreachableAfter?: number;
  /** Tolerance when comparing VE start times, which vzctl derives as now − uptime. */
  startJitterMs?: number;
  /** The clock for stored times and cooldowns; scheduling always uses real timers. */
  now?: () => number;
}

export class BeancounterWatcher {
  private readonly context: PollContext;
  private readonly intervalMs: number;
  private readonly concurrency: number;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly options: WatcherOptions) {
    this.intervalMs = (options.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS) * 1000;
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.context = {
      store: options.store,
      owners: options.owners,
      notifier: options.notifier,
      logger: options.logger.child({ component: 'watcher' }),
      now: options.now ?? Date.now,
      cooldownMs: (options.cooldownSeconds ?? DEFAULT_COOLDOWN_MS / 1000) * 1000,
      unreachableAfter: Math.max(1, options.unreachableAfter ?? DEFAULT_UNREACHABLE_AFTER),
      jitterMs: options.startJitterMs ?? START_JITTER_MS,
      lastFailure: new Map(),
    };
  }

  /** Polls at once, then every interval until stop(). */
  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    this.context.logger.info({ intervalMs: this.intervalMs }, 'beancounter watcher started');
    this.schedule(0);
  }

  /** Stops the loop and waits for a poll in progress to finish. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.inFlight;
  }

  /** One poll of every node. While a poll runs, a second call joins it instead of overlapping. */
  pollOnce(): Promise<void> {
    if (this.inFlight === null) {
      this.inFlight = this.pollAll().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    await this.pollOnce();
    if (this.running) {
      this.schedule(Math.max(0, this.intervalMs - (performance.now() - started)));
    }
  }

  private async pollAll(): Promise<void> {
    const nodes = [...this.options.nodes.nodes()];
    let next = 0;

    // A few workers take nodes off one list, so a slow node delays only its own worker.
    const worker = async (): Promise<void> => {
      while (next < nodes.length) {
        const node = nodes[next];
        next += 1;
        await pollNode(this.context, node).catch((error: unknown) => {
          this.context.logger.error({ err: error, node: node.name }, 'beancounter poll crashed');
        });
      }
    };
    const workers = Array.from({ length: Math.min(this.concurrency, nodes.length) }, worker);
    await Promise.all(workers);
  }
}
