/**
 * Which configured channels the bot is in, and getting back into them: all are joined on
 * registration, and a refused JOIN (rate limited, full, invite-only, banned, bad key) or a kick
 * is retried with capped backoff until it succeeds.
 */
import type { Logger } from '../src/log.ts';
import { backoffMs } from '../src/backoff.ts';
import type { IrcReconnect } from './irc-config.ts';

/** JOIN refusals that may pass: rate limits, full, invite-only, banned, bad key, needs account. */
export const JOIN_REFUSED = new Set(['405', '437', '471', '473', '474', '475', '477', '489']);

/**
 * The configured channels, plus the alert channel when it is not among them: output for a
 * channel the bot is not in would wait forever. Compared in ASCII case, since the server's
 * CASEMAPPING is not known before connecting; a duplicate JOIN is harmless.
 */
export function channelsToKeep(channels: string[], alertChannel: string | undefined): string[] {
  if (alertChannel === undefined) {
    return channels;
  }
  const wanted = alertChannel.toLowerCase();
  return channels.some((c) => c.toLowerCase() === wanted) ? channels : [...channels, alertChannel];
}

export interface ChannelKeeperOptions {
  channels: string[];
  backoff: IrcReconnect;
  fold: (name: string) => string;
  /** Queues a JOIN line. */
  sendJoin: (channel: string) => void;
  registered: () => boolean;
  logger: Logger;
}

export class ChannelKeeper {
  private readonly joined = new Set<string>();
  private readonly retries = new Map<string, { attempt: number; timer?: NodeJS.Timeout }>();

  constructor(private readonly options: ChannelKeeperOptions) {}

  has(channel: string): boolean {
    return this.joined.has(this.options.fold(channel));
  }

  joinAll(): void {
    for (const channel of this.options.channels) {
      this.options.sendJoin(channel);
    }
  }

  onJoined(channel: string): void {
    const key = this.options.fold(channel);
    this.joined.add(key);
    clearTimeout(this.retries.get(key)?.timer);
    this.retries.delete(key);
    this.options.logger.info({ channel }, 'joined channel');
  }

  onParted(channel: string): void {
    this.joined.delete(this.options.fold(channel));
  }

  onKicked(channel: string): void {
    this.joined.delete(this.options.fold(channel));
    const wanted = this.configured(channel);
    if (wanted) {
      this.options.logger.warn({ channel: wanted }, 'kicked from channel; rejoining later');
      this.retry(wanted);
    }
  }

  onRefused(channel: string | undefined, code: string): void {
    const wanted = this.configured(channel ?? '');
    if (wanted) {
      this.options.logger.warn({ channel: wanted, code }, 'JOIN refused; will retry');
      this.retry(wanted);
    }
  }

  /** Connection gone: we are in no channel, and retries wait for the next registration. */
  reset(): void {
    this.joined.clear();
    for (const entry of this.retries.values()) {
      clearTimeout(entry.timer);
    }
    this.retries.clear();
  }

  private configured(channel: string): string | undefined {
    const key = this.options.fold(channel);
    return this.options.channels.find((c) => this.options.fold(c) === key);
  }

  private retry(channel: string): void {
    const key = this.options.fold(channel);
    const entry = this.retries.get(key) ?? { attempt: 0 };
    clearTimeout(entry.timer);
    const { minMs, maxMs } = this.options.backoff;
    const wait = backoffMs(entry.attempt, minMs, maxMs);
    entry.attempt += 1;
    entry.timer = setTimeout(() => {
      if (this.options.registered() && !this.joined.has(key)) {
        this.options.sendJoin(channel);
      }
    }, wait);
    entry.timer.unref();
    this.retries.set(key, entry);
  }
}
