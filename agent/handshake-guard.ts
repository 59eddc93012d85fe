/**
 * Guards the agent's port before a client has proven who it is. Nobody needs a certificate to
 * open a TCP connection, so without limits a stranger could hold file descriptors until the
 * agent cannot open its own files or accept the bot, and fill the log with one warning per
 * refused handshake. The guard caps the connections one address may have in the handshake at
 * once, and turns refusals into one warning per interval with counts.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export const DEFAULT_HANDSHAKES_PER_ADDRESS = 16;
export const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Distinct reasons and addresses kept per interval, so the summary stays small. */
const SUMMARY_LIMIT = 10;

export interface HandshakeGuardOptions {
  logger: Logger;
  handshakesPerAddress?: number;
  logIntervalMs?: number;
}

interface Interval {
  refused: number;
  reasons: Map<string, number>;
  addresses: Set<string>;
}

function emptyInterval(): Interval {
  return { refused: 0, reasons: new Map(), addresses: new Set() };
}

export class HandshakeGuard {
  /** Sockets still in the handshake, by "address:port", and how many each address has. */
  private readonly pending = new Map<string, string>();
  private readonly perAddress = new Map<string, number>();
  private readonly limit: number;
  private readonly intervalMs: number;
  private interval = emptyInterval();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: HandshakeGuardOptions) {
    this.limit = options.handshakesPerAddress ?? DEFAULT_HANDSHAKES_PER_ADDRESS;
    this.intervalMs = options.logIntervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS;
  }

  /** A new TCP connection: counted against its address, or dropped at once when over the cap. */
  admit(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const key = `${address}:${socket.remotePort}`;
    const count = this.perAddress.get(address) ?? 0;

    if (count >= this.limit) {
      socket.destroy();
      this.refused(address, `more than ${this.limit} unauthenticated connections from one address`);
      return;
    }
    this.perAddress.set(address, count + 1);
    this.pending.set(key, address);
    socket.once('close', () => this.settle(key));
  }

  /** The handshake finished (the client is checked separately): it no longer counts. */
  handshakeDone(peer: string): void {
    this.settle(peer);
  }

  private settle(key: string): void {
    const address = this.pending.get(key);
    if (address === undefined) {
      return;
    }
    this.pending.delete(key);
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left > 0) {
      this.perAddress.set(address, left);
    } else {
      this.perAddress.delete(address);
    }
  }

  /**
   * A refused connection. The first one after a quiet interval is logged at once with its
   * peer; later ones are counted and summarised once per interval.
   */
  refused(address: string, reason: string, peer: string = address): void {
    if (this.timer === null) {
      this.options.logger.warn({ peer, reason }, 'connection refused');
      this.schedule();
      return;
    }
    const { interval } = this;
    interval.refused += 1;
    if (interval.reasons.has(reason) || interval.reasons.size < SUMMARY_LIMIT) {
      interval.reasons.set(reason, (interval.reasons.get(reason) ?? 0) + 1);
    }
    if (interval.addresses.size < SUMMARY_LIMIT) {
      interval.addresses.add(address);
    }
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      // A quiet interval ends the rate limit: the next refusal is logged at once again.
      if (this.summarise()) {
        this.schedule();
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Logs the interval's summary, if anything was refused in it; says whether it logged. */
  private summarise(): boolean {
    const { refused, reasons, addresses } = this.interval;
    this.interval = emptyInterval();
    if (refused === 0) {
      return false;
    }
    this.options.logger.warn(
      {
        refused,
        intervalMs: this.intervalMs,
        reasons: Object.fromEntries(reasons),
        addresses: [...addresses],
      },
      'connections refused (summary)',
    );
    return true;
  }

  /** Logs what is still counted and stops the timer (agent shutdown). */
  close(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.summarise();
  }
}
