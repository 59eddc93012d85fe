/**
 * The watcher's own small interfaces. The bot wires real implementations in (the SQLite store,
 * the agent clients, the request store for owners, the chat adapters); tests pass their own.
 */
import type { Reply } from '../../adapters/types.ts';
import type { UbcValue } from '../../agent/protocol.ts';

/** What the watcher remembers of one (node, VE, resource) between polls. */
export interface Baseline {
  failcnt: number;
  maxheld: UbcValue;
  /** The VE's start time as the agent's `list` reported it (ISO 8601), null when not running. */
  startedAt: string | null;
}

/** Per (node, VE, resource): when the last alert went out and what the cooldown held back. */
export interface CooldownState {
  /** Epoch milliseconds of the last alert sent for this key, null if none yet. */
  lastSentAt: number | null;
  /** failcnt growth seen during the cooldown, to be added to the next alert. */
  heldBack: number;
}

/** Per node: failed polls in a row and whether the crew was told the node is down. */
export interface NodeHealth {
  failures: number;
  /** Epoch ms of the first failed poll of the current run of failures, null while healthy. */
  failingSince: number | null;
  /** Epoch ms of the "unreachable" alert, null while no such alert is outstanding. */
  alertedAt: number | null;
}

export type AlertKind = 'growth' | 'unreachable' | 'back' | 'unmanaged';

/** One alert as `!alerts` lists it. */
export interface AlertRecord {
  at: number;
  kind: AlertKind;
  node: string;
  ve: string | null;
  resource: string | null;
  /** failcnt growth reported (held-back growth included); null for other kinds. */
  delta: number | null;
  owner: string | null;
}

export interface Mute {
  ve: string;
  /** Epoch ms. */
  until: number;
  /** Identity of whoever muted it. */
  by: string;
}

/** Everything the watcher reads about one node before it handles a poll. */
export interface NodeSnapshot {
  /** Keyed by `resourceKey(ve, resource)`. */
  baselines: Map<string, Baseline>;
  cooldowns: Map<string, CooldownState>;
  health: NodeHealth;
  /** VEs already reported as unmanaged. */
  unmanaged: Set<string>;
}

/** What one handled poll changes for a node; the store writes it in one transaction. */
export interface NodeChanges {
  baselines?: Map<string, Baseline>;
  cooldowns?: Map<string, CooldownState>;
  health?: NodeHealth;
  unmanagedAdded?: string[];
  unmanagedRemoved?: string[];
  alerts?: AlertRecord[];
}

/**
 * The watcher's persistent state. The real one is SQLite (sqlite-store.ts), so that a restart
 * of the bot loses no baseline and invents no alert.
 */
export interface BaselineStore {
  /** Everything known about a node; empty maps and zero health for a node never seen. */
  loadNode(node: string): NodeSnapshot;
  /** Writes all of `changes` or none of them. */
  saveNode(node: string, changes: NodeChanges): void;
  /** Mutes that are still running at `now`, keyed by VE. */
  activeMutes(now: number): Map<string, Mute>;
  /** Sets (or replaces) the mute of one VE. */
  putMute(mute: Mute): void;
  /** Newest first. */
  recentAlerts(limit: number): AlertRecord[];
}

/** Sends one agent command to a node; resolves with the answer's `returned` array. */
export type AgentCall = (command: string, args: unknown[]) => Promise<unknown>;

export interface WatchedNode {
  name: string;
  call: AgentCall;
}

/** The nodes to poll, read again before every poll so config reloads take effect. */
export interface NodeSource {
  nodes(): readonly WatchedNode[];
}

/**
 * What the bot knows of a VE a node reports: made by the bot and active (its owner gets the
 * alerts), still being created for an approved request (vzctl create shows it in `list` and
 * `ubc` minutes before the bot's VE record exists), or not the bot's at all.
 */
export type Ownership =
  | { state: 'active'; owner: string }
  | { state: 'creating'; owner: string }
  | { state: 'unmanaged' };

export interface OwnerLookup {
  ownership(node: string, ve: string): Ownership | Promise<Ownership>;
}

/**
 * Where the watcher's messages go: every adapter's alert channel, or one person privately.
 * src/notify.ts's Notifier has this shape, so the bot can hand its own one in.
 */
export interface Notifier {
  toAlerts(reply: Reply): Promise<void>;
  toUser(identity: string, reply: Reply): Promise<void>;
}

/** The key of one VE's resource within a node, for maps and sets. */
export function resourceKey(ve: string, resource: string): string {
  return `${ve}\u0000${resource}`;
}

export function splitResourceKey(key: string): { ve: string; resource: string } {
  const at = key.indexOf('\u0000');
  return { ve: key.slice(0, at), resource: key.slice(at + 1) };
}
