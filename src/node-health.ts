/**
 * Whether a node answers, as one agent client sees it, so the log tells an operator why a node
 * is unreachable once, when it becomes so, and once when it is back: never on every retry.
 */
import type { Logger } from './log.ts';

export class NodeHealth {
  /** Why the node counts as unreachable, or null while it answers. */
  private downBecause: string | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly address: string,
  ) {}

  /** A connection failed: the first failure of a run of them is logged, with the reason. */
  down(short: string, detail: string): void {
    if (this.downBecause !== null) {
      return;
    }
    this.downBecause = short;
    this.logger.warn({ reason: short, detail, address: this.address }, 'node unreachable');
  }

  /** The node answered a call: if it was down, say so once. */
  up(): void {
    if (this.downBecause === null) {
      return;
    }
    this.logger.info({ was: this.downBecause }, 'node answers again');
    this.downBecause = null;
  }
}
