/**
 * How the long-running verbs (`crewvz demo`, `crewvz bot`) stop. The first SIGINT or SIGTERM
 * (or the terminal session ending) starts a clean stop; a second signal while that runs exits
 * at once. The handlers are removed afterwards, and a last unref'd timer makes sure a handle
 * left open somewhere can never keep the process alive after the clean stop.
 */

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** Exit status for a forced stop: 128 + SIGINT, as a shell reports an interrupted program. */
export const FORCED_EXIT_STATUS = 130;
/** How long the process may linger after a clean stop before it is ended anyway. */
export const LINGER_MS = 2000;

export interface StopSignalsOptions {
  /** Where to say what is going on (stderr in the CLI). */
  say: (text: string) => void;
  /** process.exit; tests never reach it. */
  exit?: (status: number) => void;
}

export class StopSignals {
  private stopping = false;
  private wake: (() => void) | null = null;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.stopping) {
      this.options.say(`\n${signal} again: quitting now\n`);
      (this.options.exit ?? process.exit)(FORCED_EXIT_STATUS);
      return;
    }
    this.stopping = true;
    this.options.say(`\nstopping (${signal}); press Ctrl-C again to quit at once\n`);
    this.wake?.();
  };

  constructor(private readonly options: StopSignalsOptions) {
    for (const signal of SIGNALS) {
      process.on(signal, this.onSignal);
    }
  }

  /** Resolves on the first signal, or when `done` settles (the terminal session ended). */
  async wait(done: Promise<void> | null): Promise<void> {
    if (this.stopping) {
      return;
    }
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      void done?.then(() => {
        this.stopping = true;
        resolve();
      });
    });
  }

  /** Removes the handlers once the clean stop is over, and bounds how long the process lingers. */
  release(status: number): void {
    for (const signal of SIGNALS) {
      process.removeListener(signal, this.onSignal);
    }
    const exit = this.options.exit ?? process.exit;
    setTimeout(() => exit(status), LINGER_MS).unref();
  }
}
