/**
 * The watcher as the bot runs it: its store on the bot's own database, one watched node per
 * node link, owners from the VE table, and the bot's notifier for the chat side.
 */
import type { AgentCommand } from '../../agent/protocol.ts';
import type { Logger } from '../log.ts';
import type { NodePool } from '../nodes.ts';
import type { Notifier } from '../notify.ts';
import type { Store } from '../store/index.ts';
import type { VeRepo } from '../store/ves.ts';
import type { AlertsSettings } from './config.ts';
import { SqliteBaselineStore } from './sqlite-store.ts';
import type { OwnerLookup, WatchedNode } from './types.ts';
import { BeancounterWatcher } from './watcher.ts';

export interface BotWatcherOptions {
  settings: AlertsSettings;
  store: Store;
  nodes: NodePool;
  notifier: Notifier;
  logger: Logger;
  now: () => Date;
}

/** The watcher for these settings, or null when alerts are switched off. Not started yet. */
export function createBotWatcher(options: BotWatcherOptions): BeancounterWatcher | null {
  const { settings, nodes } = options;
  if (!settings.enabled) {
    return null;
  }
  return new BeancounterWatcher({
    store: new SqliteBaselineStore(options.store.db),
    // Read again before every poll, as the watcher expects, though the pool is fixed for now.
    nodes: { nodes: () => nodes.names().map((name) => watchedNode(nodes, name)) },
    owners: ownersFromVes(options.store.ves),
    notifier: options.notifier,
    logger: options.logger,
    now: () => options.now().getTime(),
    intervalSeconds: settings.intervalSeconds,
    cooldownSeconds: settings.cooldownSeconds,
    unreachableAfter: settings.unreachableAfter,
    concurrency: settings.concurrency,
  });
}

function watchedNode(nodes: NodePool, name: string): WatchedNode {
  // The watcher only asks for `ubc` and `list`, both agent commands.
  return { name, call: (command, args) => nodes.call(name, command as AgentCommand, args) };
}

/**
 * A VE is managed when the bot made it, it is still active, and it lives on the node that
 * reports it; anything else (a VE made by hand, a leftover after a move) has no owner.
 */
export function ownersFromVes(ves: VeRepo): OwnerLookup {
  return {
    owner(node, ve) {
      if (!/^[1-9][0-9]{0,9}$/.test(ve)) {
        return null;
      }
      const record = ves.get(Number(ve));
      return record !== null && record.state === 'active' && record.node === node
        ? record.owner
        : null;
    },
  };
}
