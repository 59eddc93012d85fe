/**
 * Whitelist checks for every argument the agent accepts. Nothing reaches a driver (and so no
 * program is started) until its arguments have passed here; a failure names the argument and
 * says what it must look like.
 */
import {
  LONG_MAX,
  RESOURCE_UNITS,
  UBC_AMOUNT_RULE,
  VE_ID_MAX,
  VE_ID_MIN,
  checkUsername as usernameRefusal,
  parseUbcAmount,
} from './protocol.ts';

export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const MAX_STRING_LENGTH = 255;
const DECIMAL_ID = /^[1-9][0-9]{0,9}$/;
const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

/** A short, safe description of a bad value for an error message: never raw control bytes. */
export function describeValue(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  if (typeof value === 'string') {
    if (value.length <= 64 && PRINTABLE_ASCII.test(value)) {
      return JSON.stringify(value);
    }
    return `a string of ${value.length} characters`;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : 'a non-finite number';
  }
  return `a ${typeof value}`;
}

/** Exact argument counts: extra arguments are refused, never ignored. */
export function checkCount(args: unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const wanted = min === max ? `${min}` : `${min} to ${max}`;
    throw new ValidationError(
      `expected ${wanted} argument${max === 1 ? '' : 's'}, got ${args.length}`,
    );
  }
}

/** A string argument: ASCII printable only, bounded, so no control byte ever reaches a program. */
export function checkString(value: unknown, label: string): string {
  if (typeof value !== 'string') {
    throw new ValidationError(`${label} must be a string, got ${describeValue(value)}`);
  }
  if (value.length === 0 || value.length > MAX_STRING_LENGTH) {
    throw new ValidationError(`${label} must be 1 to ${MAX_STRING_LENGTH} characters long`);
  }
  if (!PRINTABLE_ASCII.test(value)) {
    throw new ValidationError(`${label} may hold printable ASCII characters only`);
  }
  return value;
}

/** ID: a JSON integer or a plain decimal string, 101..2147483644. */
export function parseVeId(value: unknown, label = 'ID'): number {
  const rule = `${label} must be an integer from ${VE_ID_MIN} to ${VE_ID_MAX}`;
  let id: number;

  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new ValidationError(`${rule}, got ${describeValue(value)}`);
    }
    id = value;
  } else if (typeof value === 'string') {
    if (!DECIMAL_ID.test(value)) {
      throw new ValidationError(
        `${rule} written as plain decimal digits (no sign, spaces, exponent or leading zero), ` +
          `got ${describeValue(value)}`,
      );
    }
    id = Number(value);
  } else {
    throw new ValidationError(`${rule}, got ${describeValue(value)}`);
  }

  if (id < VE_ID_MIN || id > VE_ID_MAX) {
    throw new ValidationError(`${rule}, got ${describeValue(value)}`);
  }
  return id;
}

/** TEMPLATE: a bare cache name (no path, no leading dot) that the driver lists. */
export function checkTemplate(value: unknown, available: readonly string[]): string {
  const name = checkString(value, 'TEMPLATE');
  if (!TEMPLATE_NAME.test(name)) {
    throw new ValidationError(
      `TEMPLATE must be a template name (letters, digits, '.', '_', '+', '-'; no path ` +
        `separators, no leading dot), got ${describeValue(value)}`,
    );
  }
  if (!available.includes(name)) {
    const known = available.length > 0 ? available.join(', ') : 'none';
    throw new ValidationError(
      `TEMPLATE ${describeValue(name)} is not in the template cache; available: ${known}`,
    );
  }
  return name;
}

/** USERNAME: the node's rule, no reserved name, and a valid host name label (protocol.ts). */
export function checkUsername(value: unknown): string {
  const name = checkString(value, 'USERNAME');
  const refusal = usernameRefusal(name);
  if (refusal !== null) {
    throw new ValidationError(
      `USERNAME ${describeValue(name)} cannot be used: ${refusal}; pick another username`,
    );
  }
  return name;
}

/** RESOURCE: a beancounter that `vzctl set --NAME` accepts (every row but `dummy`). */
export function checkResource(value: unknown): string {
  const name = checkString(value, 'RESOURCE');
  if (!Object.hasOwn(RESOURCE_UNITS, name)) {
    throw new ValidationError(
      `RESOURCE must be one of ${Object.keys(RESOURCE_UNITS).join(', ')}, ` +
        `got ${describeValue(value)}`,
    );
  }
  return name;
}

function checkUbValue(text: string, label: string, resource: string): string {
  const unit = RESOURCE_UNITS[resource] ?? 'items';
  const parsed = parseUbcAmount(text, unit);
  if ('value' in parsed) {
    return text;
  }
  if (parsed.problem === 'items-suffix') {
    throw new ValidationError(`${label} for ${resource} counts items: give plain digits`);
  }
  if (parsed.problem === 'too-large') {
    throw new ValidationError(`${label} is larger than ${LONG_MAX}; say 'unlimited' instead`);
  }
  throw new ValidationError(`${label} must be ${UBC_AMOUNT_RULE}, got ${describeValue(text)}`);
}

export interface UbLimits {
  barrier: string;
  limit?: string;
}

/** `BARRIER[:LIMIT]` for `resource`; one value sets both in vzctl. */
export function parseBarrierLimit(value: unknown, resource: string): UbLimits {
  const text = checkString(value, 'BARRIER[:LIMIT]');
  const parts = text.split(':');
  if (parts.length > 2) {
    throw new ValidationError(`BARRIER[:LIMIT] holds at most one ':', got ${describeValue(text)}`);
  }
  const [barrier = '', limit] = parts;
  const result: UbLimits = { barrier: checkUbValue(barrier, 'BARRIER', resource) };
  if (limit !== undefined) {
    result.limit = checkUbValue(limit, 'LIMIT', resource);

    // A barrier above the limit makes the kernel refuse at the limit before the barrier ever
    // matters; it is always a typo, so it never reaches vzctl.
    const unit = RESOURCE_UNITS[resource] ?? 'items';
    const low = parseUbcAmount(result.barrier, unit);
    const high = parseUbcAmount(result.limit, unit);
    if ('value' in low && 'value' in high && low.value > high.value) {
      throw new ValidationError(`BARRIER ${barrier} is above LIMIT ${limit}; swap them`);
    }
  }
  return result;
}
