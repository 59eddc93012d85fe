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

/**
 * Items listed in one channel message. The IRC adapter sends a few lines a second, so a long
 * alert would hold back every command answer for minutes; `!alerts N` shows the rest.
 */
export const CHANNEL_ITEMS = 10;
/** Unmanaged VE IDs named in one channel line. */
export const CHANNEL_UNMANAGED = 20;
/** Items an owner gets explained one by one (at most 6 lines); more become a summary. */
export const OWNER_DETAIL_ITEMS = 2;
/** Resources and VE IDs named in an owner's summary. */
const SUMMARY_RESOURCES = 3;
const SUMMARY_VES = 5;

/**
 * The channel message for one node's poll; empty when there is nothing to say. `stored` is the
 * number of alert records this poll wrote, for the `!alerts N` that lists all of them.
 */
export function channelLines(
  node: string,
  items: readonly AlertItem[],
  newlyUnmanaged: readonly string[],
  stored = items.length + newlyUnmanaged.length,
): string[] {
  const lines: string[] = [];

  if (items.length > 0) {
    const ves = new Set(items.map((item) => item.ve)).size;
    const noun = ves === 1 ? 'VE' : 'VEs';
    lines.push(`Beancounters on ${node}: ${ves} ${noun} hit a limit since the last check.`);
    const sorted = sortItems(items);
    for (const item of sorted.slice(0, CHANNEL_ITEMS)) {
      const who = item.owner === null ? 'unmanaged' : `owner ${item.owner}`;
      lines.push(`VE ${item.ve} (${who}): ${item.resource} +${item.delta} (${values(item.row)})`);
    }
    if (sorted.length > CHANNEL_ITEMS) {
      lines.push(`…and ${sorted.length - CHANNEL_ITEMS} more: !alerts ${stored} shows them all.`);
    }
  }
  if (newlyUnmanaged.length > 0) {
    const list = someOf([...newlyUnmanaged].sort(compareIds), CHANNEL_UNMANAGED);
    lines.push(`VEs on ${node} that the bot does not manage: ${list}.`);
  }
  return lines;
}

/**
 * The private message to one owner about their VEs on one node: each item explained with the
 * `!ve set` to ask for, or, past OWNER_DETAIL_ITEMS, a summary of a few lines.
 */
export function ownerLines(node: string, items: readonly AlertItem[]): string[] {
  if (items.length > OWNER_DETAIL_ITEMS) {
    return ownerSummary(node, items);
  }
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

function ownerSummary(node: string, items: readonly AlertItem[]): string[] {
  const sorted = sortItems(items);
  const ves = [...new Set(sorted.map((item) => item.ve))];
  const lines = [
    `Your ${ves.length === 1 ? 'VE' : 'VEs'} ${someOf(ves, SUMMARY_VES)} on ${node} ran out of` +
      ' something since the last check:',
  ];

  const byResource = new Map<string, AlertItem[]>();
  for (const item of sorted) {
    byResource.set(item.resource, [...(byResource.get(item.resource) ?? []), item]);
  }
  const resources = [...byResource.keys()].sort();
  for (const resource of resources.slice(0, SUMMARY_RESOURCES)) {
    const list = byResource.get(resource) ?? [];
    const meaning = meaningOf(resource);
    const times = timesWord(list.reduce((sum, item) => sum + item.delta, 0));
    const on = list.length === 1 ? `VE ${list[0]?.ve}` : `${list.length} VEs`;
    lines.push(`- ${meaning.what} (${resource}) ran out ${times} on ${on}: ` +
      `${meaning.effect}.`);
  }
  if (resources.length > SUMMARY_RESOURCES) {
    lines.push(`- and ${resources.length - SUMMARY_RESOURCES} more resources.`);
  }
  lines.push("  Ask the crew to raise what ran out; !ve ubc ID shows a VE's values and limits.");
  return lines;
}

/** The first `count` IDs, then how many more. */
function someOf(ids: readonly string[], count: number): string {
  const rest = ids.length - count;
  return ids.slice(0, count).join(', ') + (rest > 0 ? ` and ${rest} more` : '');
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
  const times = timesWord(item.delta);
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

function timesWord(count: number): string {
  return count === 1 ? 'once' : `${count} times`;
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
