/**
 * One poll of one node: fetch `ubc` and `list`, compute growth against the stored baselines,
 * apply cooldowns and mutes, find owners, store everything in one transaction, then notify.
 * State is written before anything is sent: a crash in between loses an alert rather than
 * repeating one after the restart.
 */
import type { Logger } from 'pino';
import { describeCode, type UbcRow, type VeStatus } from '../../agent/protocol.ts';
import { readStatuses, readUbcRows, UnexpectedAnswerError } from './answers.ts';
import { applyCooldown } from './cooldown.ts';
import { computeDeltas } from './deltas.ts';
import {
  backLines,
  channelLines,
  ownerLines,
  unreachableLines,
  type AlertItem,
} from './messages.ts';
import {
  resourceKey,
  type AlertRecord,
  type BaselineStore,
  type NodeChanges,
  type NodeHealth,
  type Notifier,
  type OwnerLookup,
  type Ownership,
  type WatchedNode,
} from './types.ts';

export interface PollContext {
  store: BaselineStore;
  owners: OwnerLookup;
  notifier: Notifier;
  logger: Logger;
  now: () => number;
  cooldownMs: number;
  unreachableAfter: number;
  jitterMs: number;
  /** Per node, the message of the last failed poll, so a repeated error is logged briefly. */
  lastFailure: Map<string, string>;
}

interface Outbox {
  alerts: string[][];
  users: Array<{ identity: string; lines: string[] }>;
}

export async function pollNode(context: PollContext, node: WatchedNode): Promise<void> {
  const log = context.logger.child({ node: node.name });
  let rows: UbcRow[];
  let statuses: VeStatus[];

  try {
    const [ubc, list] = await Promise.all([node.call('ubc', []), node.call('list', [])]);
    rows = readUbcRows(ubc);
    statuses = readStatuses(list);
  } catch (error) {
    logFailedPoll(context, log, node.name, error);
    await send(context, log, failed(context, node.name, error));
    return;
  }
  context.lastFailure.delete(node.name);

  // A store or owner-lookup failure is ours, not the node's: nothing is saved, and the same
  // growth is found again by the next poll.
  let outbox: Outbox;
  try {
    outbox = await handleAnswer(context, log, node.name, rows, statuses);
  } catch (error) {
    log.error({ err: error }, 'could not handle a beancounter poll');
    return;
  }
  await send(context, log, outbox);
}

/**
 * An unreachable node is logged by its agent client (one warning when it goes down, one line
 * when it is back), so its failed polls go to debug. Any other failure is a warning, with the
 * full error the first time and only its message while the same error repeats.
 */
function logFailedPoll(context: PollContext, log: Logger, node: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (isUnreachable(error)) {
    log.debug({ reason: message }, 'beancounter poll failed: node unreachable');
    return;
  }
  if (context.lastFailure.get(node) === message) {
    log.warn({ reason: message }, 'beancounter poll failed again');
    return;
  }
  context.lastFailure.set(node, message);
  log.warn({ err: error }, 'beancounter poll failed');
}

function failed(context: PollContext, node: string, error: unknown): Outbox {
  const now = context.now();
  const old = context.store.loadNode(node).health;
  const health: NodeHealth = {
    failures: old.failures + 1,
    failingSince: old.failingSince ?? now,
    alertedAt: old.alertedAt,
  };
  const outbox: Outbox = { alerts: [], users: [] };
  const changes: NodeChanges = { health };

  if (health.failures >= context.unreachableAfter && health.alertedAt === null) {
    health.alertedAt = now;
    changes.alerts = [record(now, 'unreachable', node)];
    outbox.alerts.push(unreachableLines(node, health.failures, failureReason(error)));
  }
  context.store.saveNode(node, changes);
  return outbox;
}

async function handleAnswer(
  context: PollContext,
  log: Logger,
  node: string,
  rows: UbcRow[],
  statuses: VeStatus[],
): Promise<Outbox> {
  const now = context.now();
  const snapshot = context.store.loadNode(node);
  const outbox: Outbox = { alerts: [], users: [] };
  const changes: NodeChanges = { alerts: [] };
  const alerts = changes.alerts as AlertRecord[];

  // A node that answers again: say so once, and start counting failures afresh.
  const health = snapshot.health;
  if (health.failures > 0 || health.alertedAt !== null) {
    changes.health = { failures: 0, failingSince: null, alertedAt: null };
    if (health.alertedAt !== null) {
      outbox.alerts.push(backLines(node, health.failingSince ?? health.alertedAt, now));
      alerts.push(record(now, 'back', node));
    }
  }

  const deltas = computeDeltas(snapshot.baselines, rows, statuses, { jitterMs: context.jitterMs });
  changes.baselines = deltas.baselines;
  for (const reset of deltas.resets) {
    log.debug(reset, 'beancounter counter rebased');
  }

  // A VE still being created is watched but not alerted on: the create itself (vzctl starting
  // it, the first packages) is no use of the owner's, and its counters so far are old news
  // once it is active. Its baselines are kept, so growth after that is measured from them.
  const owners = await lookUpOwners(context, node, rows, statuses);
  const creating = deltas.growth.filter((growth) => owners.get(growth.ve)?.state === 'creating');
  if (creating.length > 0) {
    log.debug({ ves: [...new Set(creating.map((growth) => growth.ve))] },
      'growth of VEs still being created, not alerted');
  }

  const cooled = applyCooldown({
    growth: deltas.growth.filter((growth) => owners.get(growth.ve)?.state !== 'creating'),
    states: snapshot.cooldowns,
    present: new Set(deltas.baselines.keys()),
    mutes: context.store.activeMutes(now),
    now,
    cooldownMs: context.cooldownMs,
  });
  changes.cooldowns = cooled.states;

  const byKey = new Map(rows.map((row) => [resourceKey(row.ve, row.resource), row]));
  const items: AlertItem[] = cooled.send.map((growth) => ({
    ...growth,
    owner: ownerOf(owners.get(growth.ve)),
    row: byKey.get(resourceKey(growth.ve, growth.resource)) as UbcRow,
  }));
  for (const item of items) {
    alerts.push({ ...record(now, 'growth', node), ...pick(item) });
  }

  // Reported once per VE; forgotten when the VE is the bot's or gone, so that a later VE
  // with the same ID is judged afresh.
  const unmanaged = (ve: string): boolean => owners.get(ve)?.state === 'unmanaged';
  const newlyUnmanaged = [...owners.keys()].filter(
    (ve) => unmanaged(ve) && !snapshot.unmanaged.has(ve),
  );
  changes.unmanagedAdded = newlyUnmanaged;
  changes.unmanagedRemoved = [...snapshot.unmanaged].filter((ve) => !unmanaged(ve));
  for (const ve of newlyUnmanaged) {
    alerts.push({ ...record(now, 'unmanaged', node), ve });
  }

  context.store.saveNode(node, changes);
  const counts = { sent: items.length, held: cooled.held.length, muted: cooled.muted.length };
  log.debug({ rows: rows.length, firstSeen: deltas.firstSeen, ...counts }, 'beancounters polled');

  const lines = channelLines(node, items, newlyUnmanaged, alerts.length);
  if (lines.length > 0) {
    outbox.alerts.push(lines);
  }
  for (const [identity, list] of groupByOwner(items)) {
    outbox.users.push({ identity, lines: ownerLines(node, list) });
  }
  return outbox;
}

/** Each VE the node reports (in `ubc` or `list`), with what the bot knows of it. */
async function lookUpOwners(
  context: PollContext,
  node: string,
  rows: readonly UbcRow[],
  statuses: readonly VeStatus[],
): Promise<Map<string, Ownership>> {
  const ves = new Set(rows.map((row) => row.ve));
  for (const status of statuses) {
    if (status.state !== 'absent' && status.id !== 0) {
      ves.add(String(status.id));
    }
  }
  const owners = new Map<string, Ownership>();
  for (const ve of ves) {
    owners.set(ve, await context.owners.ownership(node, ve));
  }
  return owners;
}

/** The identity alerts go to: the owner of an active VE, nobody for any other. */
function ownerOf(ownership: Ownership | undefined): string | null {
  return ownership?.state === 'active' ? ownership.owner : null;
}

function groupByOwner(items: readonly AlertItem[]): Map<string, AlertItem[]> {
  const groups = new Map<string, AlertItem[]>();
  for (const item of items) {
    if (item.owner !== null) {
      groups.set(item.owner, [...(groups.get(item.owner) ?? []), item]);
    }
  }
  return groups;
}

/** Notifier failures are logged, never thrown: the state is stored already. */
async function send(context: PollContext, log: Logger, outbox: Outbox): Promise<void> {
  for (const lines of outbox.alerts) {
    await context.notifier.toAlerts({ lines }).catch((error: unknown) => {
      log.warn({ err: error }, 'could not send a watcher alert to the alert channels');
    });
  }
  for (const { identity, lines } of outbox.users) {
    await context.notifier.toUser(identity, { lines }).catch((error: unknown) => {
      log.warn({ err: error, identity }, 'could not send a watcher alert to the VE owner');
    });
  }
}

function record(at: number, kind: AlertRecord['kind'], node: string): AlertRecord {
  return { at, kind, node, ve: null, resource: null, delta: null, owner: null };
}

function pick(item: AlertItem): Pick<AlertRecord, 've' | 'resource' | 'delta' | 'owner'> {
  return { ve: item.ve, resource: item.resource, delta: item.delta, owner: item.owner };
}

/** Short words for the channel; the full error goes to the log. */
function failureReason(error: unknown): string {
  if (error instanceof UnexpectedAnswerError) {
    return error.message;
  }
  if (isUnreachable(error)) {
    return 'the node cannot be reached';
  }
  const named = error as { code?: unknown } | null;
  if (typeof named?.code === 'number') {
    return describeCode(named.code);
  }
  return 'the poll failed';
}

/** Matched by name, so the watcher needs nothing from the agent client but its answers. */
function isUnreachable(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'NodeUnreachableError';
}
