/**
 * The bot's own check of `!ve set ID RESOURCE BARRIER[:LIMIT]` before anything goes to a node:
 * the resource is a beancounter, each value is digits with an optional K, M, G or P suffix (not
 * for counts of items) or `unlimited`, and the barrier is not above the limit. The agent checks
 * again; this is so the person gets the bot's words and usage line, not the agent's.
 */
import { PAGE_BYTES, RESOURCE_UNITS, UNLIMITED } from '../agent/protocol.ts';
import { BadArgumentsError } from './errors.ts';
import { echo } from './tokenize.ts';

const AMOUNT = /^(0|[1-9][0-9]{0,18})([KMGP])?$/i;
const SUFFIX_BYTES: Record<string, bigint> = {
  K: 1024n,
  M: 1024n ** 2n,
  G: 1024n ** 3n,
  P: BigInt(PAGE_BYTES),
};

/** A value in the resource's own unit (pages, bytes or items); unlimited is the largest. */
function amount(text: string, resource: string, label: string): bigint {
  if (text === UNLIMITED) {
    return 2n ** 63n;
  }
  const match = AMOUNT.exec(text);
  if (!match) {
    throw new BadArgumentsError(
      `${label} '${echo(text)}' must be digits with an optional K, M, G or P suffix, or unlimited`,
    );
  }
  const [, digits = '0', suffix] = match;
  const unit = RESOURCE_UNITS[resource];
  if (suffix === undefined) {
    return BigInt(digits);
  }
  if (unit === 'items') {
    throw new BadArgumentsError(`${resource} counts items: give ${label} as plain digits`);
  }
  const bytes = BigInt(digits) * (SUFFIX_BYTES[suffix.toUpperCase()] ?? 1n);
  return unit === 'pages' ? bytes / BigInt(PAGE_BYTES) : bytes;
}

/** Throws a BadArgumentsError saying what is wrong with the resource or the value. */
export function checkLimitChange(resource: string, value: string): void {
  if (!Object.hasOwn(RESOURCE_UNITS, resource)) {
    throw new BadArgumentsError(
      `'${echo(resource)}' is not a beancounter; one of: ${Object.keys(RESOURCE_UNITS).join(', ')}`,
    );
  }
  const parts = value.split(':');
  if (parts.length > 2) {
    throw new BadArgumentsError(`'${echo(value)}' holds more than one ':'`);
  }
  const [barrierText = '', limitText] = parts;
  const barrier = amount(barrierText, resource, 'BARRIER');
  if (limitText === undefined) {
    return;
  }
  const limit = amount(limitText, resource, 'LIMIT');
  if (barrier > limit) {
    throw new BadArgumentsError(
      `the barrier (${barrierText}) is above the limit (${limitText}); ` +
        'the barrier is where the kernel starts refusing and may be at most the limit',
    );
  }
}
