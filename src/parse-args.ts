/**
 * A command's words after its name, checked against its declared arguments: a missing or extra
 * word, or a number out of range, is a user error that carries the usage line.
 */
import { Args, type ArgSpec, type CommandSpec } from '../commands/types.ts';
import { UserFacingError } from './errors.ts';

/** The parsed arguments of `spec`; `usage` (`usage: !ve ubc ID`) goes into every refusal. */
export function parseArgs(spec: CommandSpec, words: string[], usage: string): Args {
  const values = new Map<string, string | number>();
  let index = 0;

  for (const arg of spec.args) {
    const word = words[index];
    if (word === undefined) {
      if (!arg.optional) {
        throw new UserFacingError(usage);
      }
      continue;
    }
    if (arg.type === 'rest') {
      values.set(arg.name, words.slice(index).join(' '));
      index = words.length;
    } else if (arg.type === 'int') {
      values.set(arg.name, intArg(arg, word, usage));
      index += 1;
    } else {
      values.set(arg.name, word);
      index += 1;
    }
  }
  if (index < words.length) {
    throw new UserFacingError(usage);
  }
  const unaudited = spec.args.filter((arg) => arg.unaudited).map((arg) => arg.name);
  return new Args(values, new Set(unaudited));
}

/** A whole number within the argument's range; the refusal says the range. */
function intArg(arg: ArgSpec, word: string, usage: string): number {
  const min = arg.min ?? 0;
  const max = arg.max ?? Number.MAX_SAFE_INTEGER;
  const value = /^\d{1,16}$/.test(word) ? Number(word) : Number.NaN;
  if (Number.isNaN(value) || value < min || value > max) {
    const range = arg.max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new UserFacingError(`${arg.name} must be a whole number ${range}; ${usage}`);
  }
  return value;
}
