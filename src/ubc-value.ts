/**
 * The bot's own check of `!ve set ID RESOURCE BARRIER[:LIMIT]` before anything goes to a node.
 * Each value is read by the wire protocol's parseUbcAmount, the parser the agent uses too, so
 * the bot never passes a spelling the agent refuses nor refuses one it takes. The agent checks
 * again; this is so the person gets the bot's words and usage line, not the agent's.
 */
import { LONG_MAX, RESOURCE_UNITS, UBC_AMOUNT_RULE, parseUbcAmount } from '../agent/protocol.ts';
import { BadArgumentsError } from './errors.ts';
import { echo } from './tokenize.ts';

/** A value in the resource's own unit (pages, bytes or items); unlimited is LONG_MAX. */
function amount(text: string, resource: string, label: string): bigint {
  const parsed = parseUbcAmount(text, RESOURCE_UNITS[resource] ?? 'items');
  if ('value' in parsed) {
    return parsed.value;
  }
  if (parsed.problem === 'items-suffix') {
    throw new BadArgumentsError(`${resource} counts items: give ${label} as plain digits`);
  }
  if (parsed.problem === 'too-large') {
    throw new BadArgumentsError(`${label} is larger than ${LONG_MAX}; say unlimited instead`);
  }
  throw new BadArgumentsError(`${label} '${echo(text)}' must be ${UBC_AMOUNT_RULE}`);
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
