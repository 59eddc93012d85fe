/**
 * At start-up, undoes every create the journal says was interrupted: the VE and, with
 * provisioning, every host piece its record lists, through the agent's own `remove`. Until that
 * is done the VE answers VE_BUSY to every command, `status` included, so the bot keeps its
 * request in provisioning instead of taking a half-made VE for a finished one; once it is done
 * the VE is absent and the bot's reconcile creates it again, whole.
 *
 * The killed agent's vzctl may outlive it (it runs in a process group of its own) and hold the
 * VE's lock for minutes, so a failed undo is tried again until it succeeds or its time is up.
 */
import type { Logger } from 'pino';

import type { CreateJournal } from './create-journal.ts';
import { DriverError } from './driver.ts';
import type { Dispatcher } from './handlers.ts';

/** vzctl's status for an unknown VE: the create never got as far as making one. */
const VZ_NO_SUCH_VE = 14;

/** Long enough for a create the killed agent started (its limit is 600 s) to end. */
export const RECOVERY_RETRY_MS = 30_000;
export const RECOVERY_ATTEMPTS = 25;

export interface RecoveryOptions {
  journal: CreateJournal;
  dispatcher: Dispatcher;
  logger: Logger;
  retryMs?: number;
  attempts?: number;
}

export interface Recovery {
  /** Resolves when every interrupted create is undone, or given up on. */
  done: Promise<void>;
  stop(): void;
}

/** Blocks the interrupted VEs at once (before the port opens), then undoes them. */
export async function recoverInterruptedCreates(options: RecoveryOptions): Promise<Recovery> {
  const { journal, dispatcher, logger } = options;
  const interrupted = await journal.interrupted();
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  for (const ve of interrupted) {
    dispatcher.block(ve, 'undoing a create the agent was stopped in the middle of');
  }

  const pause = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timer.unref();
    timers.add(timer);
  });

  const undo = async (ve: number): Promise<void> => {
    const log = logger.child({ ve });
    const attempts = options.attempts ?? RECOVERY_ATTEMPTS;
    for (let attempt = 1; attempt <= attempts && !stopped; attempt += 1) {
      try {
        await removeOrAbsent(dispatcher, ve);
        await journal.end(ve);
        dispatcher.unblock(ve);
        log.info('interrupted create undone; the VE is absent until it is created again');
        return;
      } catch (error) {
        log.warn({ err: error, attempt, attempts }, 'cannot undo an interrupted create yet');
        await pause(options.retryMs ?? RECOVERY_RETRY_MS);
      }
    }
    if (!stopped) {
      log.error(`interrupted create not undone: destroy VE ${ve} by hand (vzctl destroy ${ve}), ` +
        `delete ${journal.directory}/${ve} and restart the agent`);
    }
  };

  const done = Promise.all(interrupted.map(undo)).then(() => undefined);
  return {
    done,
    stop() {
      stopped = true;
      for (const timer of timers) {
        clearTimeout(timer);
      }
    },
  };
}

async function removeOrAbsent(dispatcher: Dispatcher, ve: number): Promise<void> {
  try {
    await dispatcher.removeDirectly(ve);
  } catch (error) {
    if (!(error instanceof DriverError && error.code === VZ_NO_SUCH_VE)) {
      throw error;
    }
  }
}
