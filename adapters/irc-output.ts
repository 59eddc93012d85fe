/**
 * Every line the IRC adapter sends goes through this queue. It spends one token-bucket token
 * a line, so bursts never trip the server's flood limit, and it holds lines for a target that
 * cannot take them yet (not connected, channel not joined) without blocking other targets.
 * Text is cut into wire lines only when sent, with the budget for the bot's prefix as it is then.
 */
import type { Logger } from '../src/log.ts';
import { takeHead, textBudget } from './irc-split.ts';
import type { TokenBucket } from './token-bucket.ts';

export type OutItem =
  | { kind: 'message'; command: 'PRIVMSG' | 'NOTICE'; target: string; text: string }
  /** A protocol line (JOIN, WHO, WHOIS) sent as given once registered. */
  | { kind: 'raw'; line: string };

export interface OutputSink {
  /** True when a line for `target` (or a raw line, target undefined) can go out now. */
  ready(target: string | undefined): boolean;
  write(line: string): void;
  /** Bytes of `nick!user@host` as the server will relay it (a worst case until learned). */
  prefixBytes(): number;
}

export class OutputQueue {
  private readonly items: OutItem[] = [];
  private timer: NodeJS.Timeout | undefined;

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

  /** Drops queued protocol lines; they belong to a connection that is gone. */
  dropRaw(): void {
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (this.items[i].kind === 'raw') {
        this.items.splice(i, 1);
      }
    }
  }

  /** Sends what can go out now; call again whenever a target may have become ready. */
  drain(): void {
    if (this.timer) {
      return;
    }
    while (this.items.length > 0) {
      const index = this.items.findIndex((item) => this.sink.ready(targetOf(item)));
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
