/**
 * A token bucket: `capacity` tokens at most, refilled continuously at `perSecond`. Used for
 * the IRC output queue (one token a line) and for the per-person command limit.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.updatedAt = now();
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until one token is available (0 when one is there now). */
  msUntilToken(): number {
    this.refill();
    if (this.tokens >= 1) {
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  /** True when the bucket is back to full, so its state can be forgotten. */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.capacity;
  }

  private refill(): void {
    const now = this.now();
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(this.capacity, this.tokens + elapsedSeconds * this.perSecond);
    this.updatedAt = now;
  }
}

/**
 * Per-key command limit: each key gets its own bucket. When a key runs dry the caller is told
 * to warn once; further commands are dropped silently, or run when a token comes back, with no
 * second warning until the bucket has been full again (the person went quiet for a while).
 * Warning at every refill would let a steady flooder make the bot talk at the refill rate.
 */
export class KeyedLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; warned: boolean }>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** 'ok' to run the command, 'warn' to answer once that they are going too fast, 'drop'. */
  check(key: string): 'ok' | 'warn' | 'drop' {
    this.forgetFull();
    let entry = this.buckets.get(key);
    if (!entry) {
      entry = { bucket: new TokenBucket(this.burst, this.perSecond, this.now), warned: false };
      this.buckets.set(key, entry);
    }
    if (entry.warned && entry.bucket.isFull()) {
      entry.warned = false;
    }
    if (entry.bucket.tryTake()) {
      return 'ok';
    }
    if (entry.warned) {
      return 'drop';
    }
    entry.warned = true;
    return 'warn';
  }

  // Keeps the map from growing with every nick ever seen.
  private forgetFull(): void {
    if (this.buckets.size < 256) {
      return;
    }
    for (const [key, entry] of this.buckets) {
      if (entry.bucket.isFull()) {
        this.buckets.delete(key);
      }
    }
  }
}
