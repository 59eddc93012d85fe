/**
 * vzctl's spelling of a beancounter value (vzctl(8) "User Beancounter limits"): digits in the
 * resource's own unit, or digits with a suffix: K, M, G, T (bytes, times 1024 each step), P
 * (4 KiB pages) or B (bytes); `unlimited` is LONG_MAX. A size given to a pages resource is
 * converted to whole pages; counts of items take no suffix.
 */
import { LONG_MAX_64 } from './beancounters.ts';
import { PAGE_BYTES, RESOURCE_UNITS, UNLIMITED, type ResourceUnit } from './protocol.ts';

const AMOUNT = /^([0-9]+)([KMGTPB]?)$/i;
const PAGE = BigInt(PAGE_BYTES);

const BYTE_SHIFT: Record<string, bigint> = { K: 10n, M: 20n, G: 30n, T: 40n };

/** The exact value to store, or null when the text is no amount vzctl would take. */
export function parseUbcAmount(text: string, unit: ResourceUnit): bigint | null {
  if (text === UNLIMITED) {
    return LONG_MAX_64;
  }
  const match = AMOUNT.exec(text);
  if (!match) {
    return null;
  }
  const digits = BigInt(match[1]);
  const suffix = match[2].toUpperCase();
  if (suffix !== '' && unit === 'items') {
    return null;
  }
  const value = convert(digits, suffix, unit);
  return value > LONG_MAX_64 ? null : value;
}

function convert(digits: bigint, suffix: string, unit: ResourceUnit): bigint {
  if (suffix === '') {
    return digits;
  }
  const bytes = suffix === 'P' ? digits * PAGE : digits << (BYTE_SHIFT[suffix] ?? 0n);
  return unit === 'pages' ? bytes / PAGE : bytes;
}

/**
 * `barrier[:limit]` for `resource`, each part as parseUbcAmount reads it; one value sets both,
 * as vzctl does. Null when either part is unreadable.
 */
export function parseLimit(
  resource: string,
  value: string,
): { barrier: bigint; limit: bigint } | null {
  const unit = RESOURCE_UNITS[resource] ?? 'items';
  const [barrierText, limitText = barrierText, extra] = value.split(':');
  const barrier = parseUbcAmount(barrierText, unit);
  const limit = parseUbcAmount(limitText, unit);

  if (extra !== undefined || barrier === null || limit === null) {
    return null;
  }
  return { barrier, limit };
}
