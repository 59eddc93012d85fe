/**
 * An ordered list of steps, each with its own undo. When step k fails, steps k-1 down to 1 are
 * undone in reverse; a step whose `do` throws must itself leave nothing behind. An undo that
 * fails is logged and reported, and the ones before it still run: half a rollback is better
 * than stopping at the first stuck piece.
 */
import type { Logger } from 'pino';

import { DriverError } from '../driver.ts';
import { AgentCode } from '../protocol.ts';

export interface Step {
  name: string;
  do(): Promise<void>;
  undo(): Promise<void>;
}

export interface UndoFailure {
  step: string;
  message: string;
}

/** vzctl's own exit statuses run from 1 to 255; anything else is the agent's. */
function isVzctlCode(code: number): boolean {
  return Number.isInteger(code) && code > 0 && code < 256;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A create that failed at `step` and was rolled back. It is a DriverError so the handler answers
 * it like any other: `code` is vzctl's status when vzctl failed, STEP_FAILED otherwise, and
 * `lines` say which step failed, why, what was undone and what could not be.
 */
export class StepFailedError extends DriverError {
  constructor(
    readonly step: string,
    readonly reason: string,
    code: number,
    readonly rolledBack: string[],
    readonly undoFailures: UndoFailure[],
    readonly causeError?: unknown,
  ) {
    super(code, StepFailedError.describe(step, reason, rolledBack, undoFailures));
    this.name = 'StepFailedError';
  }

  private static describe(
    step: string,
    reason: string,
    rolledBack: string[],
    undoFailures: UndoFailure[],
  ): string[] {
    const lines = [`step "${step}" failed: ${reason}`];

    if (rolledBack.length > 0) {
      lines.push(`rolled back: ${rolledBack.join(', ')}`);
    }
    for (const failure of undoFailures) {
      lines.push(`could not undo "${failure.step}": ${failure.message}; clean it up by hand`);
    }
    return lines;
  }
}

function codeFor(error: unknown): number {
  if (error instanceof DriverError && isVzctlCode(error.code)) {
    return error.code;
  }
  return AgentCode.STEP_FAILED;
}

function reasonFor(error: unknown): string {
  if (error instanceof DriverError && error.lines.length > 0) {
    return error.lines.join('; ');
  }
  return messageOf(error);
}

async function rollBack(done: Step[], logger: Logger): Promise<[string[], UndoFailure[]]> {
  const rolledBack: string[] = [];
  const failures: UndoFailure[] = [];

  for (const step of [...done].reverse()) {
    try {
      await step.undo();
      rolledBack.push(step.name);
    } catch (error) {
      logger.error({ step: step.name, err: error }, 'undo failed; continuing the rollback');
      failures.push({ step: step.name, message: messageOf(error) });
    }
  }
  return [rolledBack, failures];
}

/** Runs the steps in order; on a failure, undoes what was done and throws StepFailedError. */
export async function runSteps(steps: Step[], logger: Logger): Promise<void> {
  const done: Step[] = [];

  for (const step of steps) {
    try {
      await step.do();
    } catch (error) {
      logger.warn({ step: step.name, err: error }, 'step failed; rolling back');
      const [rolledBack, failures] = await rollBack(done, logger);
      throw new StepFailedError(
        step.name,
        reasonFor(error),
        codeFor(error),
        rolledBack,
        failures,
        error,
      );
    }
    logger.debug({ step: step.name }, 'step done');
    done.push(step);
  }
}
