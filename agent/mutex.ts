/**
 * A first-come, first-served lock for one process. The agent is the only writer of the files
 * it guards (the address ledger, the map file, the passwd files under root), so an in-process
 * queue is enough to keep two concurrent creates from reading the same state. The simulator uses
 * it too, to apply one change of its state file at a time. It is a Semaphore of one: waiters go
 * in arrival order, and a failed holder still lets the next one in.
 */
import { Semaphore } from './semaphore.ts';

export class Mutex extends Semaphore {
  constructor() {
    super(1);
  }
}

/**
 * One Mutex per key (a file or a folder, resolved to an absolute path by the caller), made on
 * first use. The keys are a handful of configured paths, so the map never needs pruning.
 */
export class KeyedMutex {
  private readonly locks = new Map<string, Mutex>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let lock = this.locks.get(key);
    if (lock === undefined) {
      lock = new Mutex();
      this.locks.set(key, lock);
    }
    return lock.run(work);
  }
}
