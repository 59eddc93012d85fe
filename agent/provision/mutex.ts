/**
 * A first-come, first-served lock for one process. The agent is the only writer of the files
 * it guards (the address ledger, the map file, the passwd files under root), so an in-process
 * queue is enough to keep two concurrent creates from reading the same state.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);

    // The next caller waits for this one to settle, whatever the outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
