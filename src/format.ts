/**
 * Human-readable numbers and tables for chat. Beancounters are shown in the unit each resource
 * counts (pages are 4 KiB, so they are shown as bytes), with `unlimited` spelled out.
 */
import {
  PAGE_BYTES,
  RESOURCE_UNITS,
  UNLIMITED,
  type UbcRow,
  type UbcValue,
} from '../agent/protocol.ts';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Near the barrier means at least this share of it is held. */
export const NEAR_BARRIER = 0.9;

export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${value} B`;
  }
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** One beancounter value in its resource's unit; an unknown resource is shown as a count. */
export function humanValue(resource: string, value: UbcValue): string {
  if (value === UNLIMITED) {
    return UNLIMITED;
  }
  const unit = RESOURCE_UNITS[resource] ?? 'items';
  if (unit === 'pages') {
    return humanBytes(value * PAGE_BYTES);
  }
  if (unit === 'bytes') {
    return humanBytes(value);
  }
  return String(value);
}

/** Why a row deserves a look: it has failed allocations, or it holds most of its barrier. */
export function rowWarning(row: UbcRow): string | null {
  if (row.failcnt > 0) {
    return `failcnt ${row.failcnt}`;
  }
  if (typeof row.barrier === 'number' && typeof row.held === 'number' && row.barrier > 0) {
    const share = row.held / row.barrier;
    if (share >= NEAR_BARRIER) {
      return `${Math.floor(share * 100)}% of barrier`;
    }
  }
  return null;
}

/**
 * Pads cells into columns two spaces apart. Columns are left-aligned unless `right` names them:
 * numbers read best right-aligned, words left-aligned.
 */
export function table(header: string[], rows: string[][], right: readonly number[] = []): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? '').length)),
  );
  return all.map((row) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return right.includes(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

/**
 * A marked row of the `!ve ubc` table starts with this. Not the command prefix: the dispatcher
 * guards a line starting with that, which would push the row a column to the right.
 */
export const UBC_MARK = '*';

/** The `!ve ubc` table; a marked row starts with UBC_MARK and says why in the last column. */
export function ubcTable(rows: UbcRow[]): string[] {
  const body = rows.map((row) => {
    const warning = rowWarning(row);
    return [
      `${warning ? UBC_MARK : ' '} ${row.resource}`,
      humanValue(row.resource, row.held),
      humanValue(row.resource, row.maxheld),
      humanValue(row.resource, row.barrier),
      humanValue(row.resource, row.limit),
      String(row.failcnt),
      warning ?? '',
    ];
  });
  const header = ['  resource', 'held', 'maxheld', 'barrier', 'limit', 'failcnt', ''];
  return table(header, body, [1, 2, 3, 4, 5]);
}
