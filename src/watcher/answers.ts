/**
 * Checks the agent's `ubc` and `list` answers before the watcher trusts them: an agent of
 * another version, or a broken one, fails the poll with a reason instead of poisoning the
 * baselines with NaN.
 */
import {
  UNLIMITED,
  type UbcRow,
  type UbcValue,
  type VeState,
  type VeStatus,
} from '../../agent/protocol.ts';

/** The host's own beancounter and the kernel's placeholder rows are no VE's resources. */
const HOST_ID = '0';
const DUMMY = 'dummy';
const STATES: readonly VeState[] = ['running', 'stopped', 'absent'];

export class UnexpectedAnswerError extends Error {
  constructor(command: string, detail: string) {
    super(`unexpected answer to ${command}: ${detail}`);
    this.name = 'UnexpectedAnswerError';
  }
}

/** The VE rows of a `ubc` answer; the host block and `dummy` rows are dropped. */
export function readUbcRows(answer: unknown): UbcRow[] {
  if (!Array.isArray(answer)) {
    throw new UnexpectedAnswerError('ubc', 'not a list');
  }
  const rows: UbcRow[] = [];

  answer.forEach((item: unknown, index) => {
    if (!isUbcRow(item)) {
      throw new UnexpectedAnswerError('ubc', `row ${index} is not a beancounter row`);
    }
    if (item.ve !== HOST_ID && item.resource !== DUMMY) {
      rows.push(item);
    }
  });
  return rows;
}

export function readStatuses(answer: unknown): VeStatus[] {
  if (!Array.isArray(answer)) {
    throw new UnexpectedAnswerError('list', 'not a list');
  }
  answer.forEach((item: unknown, index) => {
    if (!isStatus(item)) {
      throw new UnexpectedAnswerError('list', `entry ${index} is not a VE status`);
    }
  });
  return answer as VeStatus[];
}

function isUbcRow(item: unknown): item is UbcRow {
  if (typeof item !== 'object' || item === null) {
    return false;
  }
  const row = item as Record<string, unknown>;
  return (
    typeof row.ve === 'string' &&
    row.ve !== '' &&
    typeof row.resource === 'string' &&
    isCount(row.failcnt) &&
    [row.held, row.maxheld, row.barrier, row.limit].every(isValue)
  );
}

function isStatus(item: unknown): item is VeStatus {
  if (typeof item !== 'object' || item === null) {
    return false;
  }
  const status = item as Record<string, unknown>;
  return (
    Number.isInteger(status.id) &&
    STATES.includes(status.state as VeState) &&
    (status.startedAt === null || typeof status.startedAt === 'string')
  );
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isValue(value: unknown): value is UbcValue {
  return value === UNLIMITED || isCount(value);
}
