/**
 * The watcher's chat text: one alert-channel message per node and poll, a plain-words private
 * message per owner, and the node down / back notices. Values go through src/format.ts, so
 * they read as in `!ve ubc`: pages and bytes in KiB/MiB/GiB, items plain, `unlimited` spelled out.
 */
import { formatDistanceStrict } from 'date-fns';
import type { UbcRow } from '../../agent/protocol.ts';
import { meaningOf, noRaiseReason, suggestLimits } from './advice.ts';
import { humanValue as formatValue } from '../format.ts';

/** One (VE, resource) whose failcnt grew, as the messages show it. */
export interface AlertItem {
  ve: string;
  /** The owner's identity, null for a VE the bot does not manage. */
  owner: string | null;
  resource: string;
  /** Growth to report, held-back growth included. */
  delta: number;
  row: UbcRow;
}

/** The channel message for one node's poll; empty when there is nothing to say. */
export function channelLines(
  node: string,
  items: readonly AlertItem[],
  newlyUnmanaged: readonly string[],
): string[] {
  const lines: string[] = [];

  if (items.length > 0) {
    const ves = new Set(items.map((item) => item.ve)).size;
    const noun = ves === 1 ? 'VE' : 'VEs';
    lines.push(`Beancounters on ${node}: ${ves} ${noun} hit a limit since the last check.`);
    for (const item of sortItems(items)) {
      const who = item.owner === null ? 'unmanaged' : `owner ${item.owner}`;
      lines.push(`VE ${item.ve} (${who}): ${item.resource} +${item.delta} (${values(item.row)})`);
    }
  }
  if (newlyUnmanaged.length > 0) {
    const list = [...newlyUnmanaged].sort(compareIds).join(', ');
    lines.push(`VEs on ${node} that the bot does not manage: ${list}.`);
  }
  return lines;
}

/** The private message to one owner about their VEs on one node. */
export function ownerLines(node: string, items: readonly AlertItem[]): string[] {
  const lines: string[] = [];
  const byVe = new Map<string, AlertItem[]>();

  for (const item of sortItems(items)) {
    byVe.set(item.ve, [...(byVe.get(item.ve) ?? []), item]);
  }
  for (const [ve, list] of byVe) {
    lines.push(`Your VE ${ve} on ${node} ran out of something since the last check:`);
    for (const item of list) {
      lines.push(...explain(item));
    }
  }
  return lines;
}

export function unreachableLines(node: string, failures: number, reason: string): string[] {
  return [
    `Node ${node} is unreachable: ${failures} polls in a row failed (last: ${reason}).` +
      ' Beancounter alerts for its VEs wait until it answers again.',
  ];
}

export function backLines(node: string, downSince: number, now: number): string[] {
  const duration = formatDistanceStrict(now, downSince);
  return [`Node ${node} answers again after ${duration}; beancounter alerts for it resume.`];
}

function explain(item: AlertItem): string[] {
  const meaning = meaningOf(item.resource);
  const times = item.delta === 1 ? 'once' : `${item.delta} times`;
  const lines = [
    `- ${meaning.what} (${item.resource}) ran out ${times}: ${meaning.effect}.` +
      ` Now: ${values(item.row)}.`,
  ];

  const suggestion = suggestLimits(item.row);
  if (suggestion === null) {
    lines.push(`  ${noRaiseReason(item.row)}`);
    return lines;
  }
  const human =
    `${formatValue(item.resource, toValue(suggestion.barrier))}` +
    `:${formatValue(item.resource, toValue(suggestion.limit))}`;
  lines.push(
    `  Ask the crew to raise it; a crew member could run: ` +
      `!ve set ${item.ve} ${item.resource} ${suggestion.barrier}:${suggestion.limit} (${human})`,
  );
  return lines;
}

function values(row: UbcRow): string {
  const held = formatValue(row.resource, row.held);
  const barrier = formatValue(row.resource, row.barrier);
  const limit = formatValue(row.resource, row.limit);
  return `held ${held}, barrier ${barrier}, limit ${limit}`;
}

function toValue(text: string): number | 'unlimited' {
  return text === 'unlimited' ? 'unlimited' : Number(text);
}

function sortItems(items: readonly AlertItem[]): AlertItem[] {
  return [...items].sort(
    (a, b) => compareIds(a.ve, b.ve) || a.resource.localeCompare(b.resource),
  );
}

/** Numeric IDs in numeric order, names (OpenVZ 7) after them in text order. */
function compareIds(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isInteger(x) && Number.isInteger(y)) {
    return x - y;
  }
  return a.localeCompare(b, 'en', { numeric: true });
}
