/**
 * One operation per VE at a time. A second operation on a busy VE is refused at once (the
 * caller gets VE_BUSY) rather than queued, so a hung vzctl never piles up work behind it.
 */
export class VeLocks {
  private readonly busy = new Map<number, string>();

  /** Takes the VE for `operation`; false when another operation holds it. */
  tryAcquire(id: number, operation: string): boolean {
    if (this.busy.has(id)) {
      return false;
    }
    this.busy.set(id, operation);
    return true;
  }

  release(id: number): void {
    this.busy.delete(id);
  }

  /** The operation holding the VE, if any. */
  holder(id: number): string | undefined {
    return this.busy.get(id);
  }

  get size(): number {
    return this.busy.size;
  }
}
