/**
 * Every line the IRC adapter sends goes through this queue. It spends one token-bucket token
 * a line, so bursts never trip the server's flood limit, and it holds lines for a target that
 * cannot take them yet (not connected, channel not joined) without blocking other targets.
 * Text is cut into wire lines only when sent, with the budget for the bot's prefix as it is then.
 */
import type { Logger } from '../src/log.ts';
import { takeHead, textBudget } from './irc-split.ts';
import type { Clearance } from './irc-recipients.ts';
import type { TokenBucket } from './token-bucket.ts';

export type OutItem =
  | {
    kind: 'message';
    command: 'PRIVMSG' | 'NOTICE';
    target: string;
    text: string;
    /**
     * For a private line: the services account it is for, or null for someone with no
     * account (such lines end with the connection). Left out for channel lines.
     */
    owner?: string | null;
  }
  /** A protocol line (JOIN, WHO, WHOIS) sent as given once registered. */
  | { kind: 'raw'; line: string };

export interface OutputSink {
  /** True when a line for `target` (or a raw line, target undefined) can go out now. */
  ready(target: string | undefined): boolean;
  write(line: string): void;
  /** Bytes of `nick!user@host` as the server will relay it (a worst case until learned). */
  prefixBytes(): number;
  /** Whether `target` is known to be logged in as `owner` now (see irc-recipients.ts). */
  clearance(target: string, owner: string): Clearance;
  /** Takes back the lines for `owner` that were queued for a nick someone else holds now. */
  divert(owner: string, target: string, texts: string[]): void;
}

export class OutputQueue {
  private readonly items: OutItem[] = [];
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(
    private readonly bucket: TokenBucket,
    private readonly sink: OutputSink,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** Queues a line; `urgent` lines (JOIN, lookups) go before queued chat output. */
  push(item: OutItem, urgent = false): void {
    if (urgent) {
      this.items.unshift(item);
    } else {
      this.items.push(item);
    }
    this.drain();
  }

  /**
   * Drops what belongs to a connection that is gone: protocol lines, and private lines for
   * people with no account, whose nick may be anyone's on the next connection.
   */
  dropConnectionBound(): void {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i];
      if (item.kind === 'raw' || item.owner === null) {
        this.items.splice(i, 1);
      }
    }
  }

  /** Sends what can go out now; call again whenever a target may have become ready. */
  drain(): void {
    // A divert may queue lines again from inside the loop; the loop below picks them up.
    if (this.timer || this.draining) {
      return;
    }
    this.draining = true;
    try {
      this.drainNow();
    } finally {
      this.draining = false;
    }
  }

  private drainNow(): void {
    while (this.items.length > 0) {
      let diverted: OutItem | undefined;
      const index = this.items.findIndex((item) => {
        if (!this.sink.ready(targetOf(item))) return false;
        if (item.kind === 'raw' || typeof item.owner !== 'string') return true;
        const clearance = this.sink.clearance(item.target, item.owner);
        if (clearance === 'divert') diverted ??= item;
        return clearance === 'go';
      });
      if (diverted) {
        this.divert(diverted);
        continue;
      }
      if (index === -1) {
        return;
      }
      const wait = this.bucket.msUntilToken();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.drain();
        }, wait);
        this.timer.unref();
        return;
      }
      this.bucket.tryTake();
      this.sendOne(index);
    }
  }

  /** Takes out every line queued for the diverted item's nick and owner, in order. */
  private divert(first: OutItem): void {
    if (first.kind === 'raw' || typeof first.owner !== 'string') return;
    const texts: string[] = [];
    for (let i = 0; i < this.items.length; i++) {
      const item = this.items[i];
      if (item.kind === 'message' && item.target === first.target && item.owner === first.owner) {
        texts.push(item.text);
        this.items.splice(i, 1);
        i -= 1;
      }
    }
    this.logger.info({ target: first.target, lines: texts.length },
      'private lines taken back: the nick is no longer logged in as the account they are for');
    this.sink.divert(first.owner, first.target, texts);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.items.length = 0;
  }

  private sendOne(index: number): void {
    const item = this.items[index];
    if (item.kind === 'raw') {
      this.items.splice(index, 1);
      this.sink.write(item.line);
      return;
    }

    const budget = textBudget(this.sink.prefixBytes(), item.command, item.target);
    const [head, rest] = takeHead(item.text, budget);
    if (rest === '') {
      this.items.splice(index, 1);
    } else {
      item.text = rest;
    }
    this.logger.debug({ target: item.target, bytes: Buffer.byteLength(head) }, 'irc line out');
    this.sink.write(`${item.command} ${item.target} :${head}`);
  }
}

function targetOf(item: OutItem): string | undefined {
  return item.kind === 'raw' ? undefined : item.target;
}
