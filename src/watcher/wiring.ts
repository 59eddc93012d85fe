/**
 * The watcher as the bot runs it: its store on the bot's own database, one watched node per
 * node link, owners from the VE and request tables, and the bot's notifier for the chat side.
 */
import type { AgentCommand } from '../../agent/protocol.ts';
import type { Logger } from '../log.ts';
import type { NodePool } from '../nodes.ts';
import type { Notifier } from '../notify.ts';
import type { Store } from '../store/index.ts';
import { IN_FLIGHT_STATES } from '../store/requests.ts';
import type { AlertsSettings } from './config.ts';
import { SqliteBaselineStore } from './sqlite-store.ts';
import type { OwnerLookup, Ownership, WatchedNode } from './types.ts';
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
    owners: ownersFromStore(options.store),
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
 * A VE is the bot's when the bot made it, it is still active, and it lives on the node that
 * reports it. A VE whose request is approved or provisioning on that node is being created:
 * the agent's create shows it from `vzctl create` on, while the VE record is written only when
 * the create returns. Anything else (a VE made by hand, a leftover after a move) has no owner.
 */
export function ownersFromStore(store: Pick<Store, 'ves' | 'requests'>): OwnerLookup {
  return {
    ownership(node, ve): Ownership {
      if (!/^[1-9][0-9]{0,9}$/.test(ve)) {
        return { state: 'unmanaged' };
      }
      const id = Number(ve);
      const record = store.ves.get(id);
      if (record !== null && record.state === 'active' && record.node === node) {
        return { state: 'active', owner: record.owner };
      }
      const request = store.requests
        .inStates(IN_FLIGHT_STATES)
        .find((candidate) => candidate.veId === id && candidate.node === node);
      return request === undefined
        ? { state: 'unmanaged' }
        : { state: 'creating', owner: request.requester };
    },
  };
}
