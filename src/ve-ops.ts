/**
 * Operations on existing VEs. A student may touch only VEs they own; the crew any. Every change
 * is audited with its outcome; agent failures come back as plain words for the chat.
 */
import { AgentCode, type AuthorizedKey, type UbcRow, type VeStatus } from '../agent/protocol.ts';
import { UserFacingError } from './errors.ts';
import { explainNodeError, isAgentFailure, isUnreachable, type NodePool } from './nodes.ts';
import { atLeast } from './roles.ts';
import { checkLimitChange } from './ubc-value.ts';
import type { AuditOutcome, Store, VeRecord } from './store/index.ts';
import type { Actor } from './workflow.ts';

/** How long a `!ve remove ID` waits for its `confirm`. */
export const REMOVE_CONFIRM_MS = 60_000;

export type VeAction = 'start' | 'stop' | 'restart';

export interface ActOutcome {
  live: VeStatus;
  already: boolean;
}

/** The state in which a start or stop has nothing to do. */
const ALREADY_STATE: Partial<Record<VeAction, VeStatus['state']>> = {
  start: 'running',
  stop: 'stopped',
};

export interface VeListing {
  ve: VeRecord;
  /** The node's view, or null when the node did not answer. */
  live: VeStatus | null;
}

/** A login key the node installed, and how its owner logs in with it. */
export interface InstalledKey {
  ve: VeRecord;
  key: AuthorizedKey;
  sshHost: string;
}

export interface VeOpsOptions {
  store: Store;
  nodes: NodePool;
  now: () => Date;
}

export class VeOperations {
  /** `identity id` → when the removal was asked for; entries go once they expire. */
  private readonly confirmations = new Map<string, number>();

  constructor(private readonly options: VeOpsOptions) {}

  /** How many removals wait for their `confirm` now (expired ones do not count). */
  get awaitingConfirmation(): number {
    this.forgetExpired(this.options.now().getTime());
    return this.confirmations.size;
  }

  /** Drops asks older than REMOVE_CONFIRM_MS, so unconfirmed removals do not pile up. */
  private forgetExpired(now: number): void {
    for (const [key, asked] of this.confirmations) {
      if (now - asked > REMOVE_CONFIRM_MS) {
        this.confirmations.delete(key);
      }
    }
  }

  /**
   * The VE record, if it exists and the actor may operate it. A student hears the same words
   * for a VE that does not exist and one that is someone else's, so IDs cannot be probed.
   */
  find(actor: Actor, id: number): VeRecord {
    const ve = this.options.store.ves.get(id);
    const exists = ve !== null && ve.state === 'active';
    if (!atLeast(actor.role, 'crew')) {
      if (!exists || ve.owner !== actor.identity) {
        throw new UserFacingError(`you have no VE ${id}; !ve list shows yours`);
      }
      return ve;
    }
    if (!exists) {
      throw new UserFacingError(`there is no VE ${id}; !ve list shows the VEs`);
    }
    return ve;
  }

  private audit(actor: Actor, action: string, id: number, outcome: AuditOutcome, detail?: string) {
    this.options.store.audit.add({
      at: this.options.now().toISOString(),
      actor: actor.identity,
      action,
      target: `VE ${id}`,
      outcome,
      detail: detail ?? null,
    });
  }

  /** Calls the node for one VE; failures are audited and turned into chat words. */
  private async call(
    actor: Actor,
    ve: VeRecord,
    command: 'status' | 'start' | 'stop' | 'restart' | 'remove' | 'ubc' | 'set' | 'authorize',
    args: unknown[],
    audited: boolean,
    changing = audited,
  ): Promise<unknown[]> {
    try {
      const returned = await this.options.nodes.call(ve.node, command, [ve.id, ...args]);
      if (audited && command !== 'remove') {
        this.audit(actor, `ve ${command}`, ve.id, 'ok', args.join(' ') || undefined);
      }
      return returned;
    } catch (error) {
      if (audited && (isAgentFailure(error) || isUnreachable(error))) {
        this.audit(actor, `ve ${command}`, ve.id, 'failed', String(error));
      }
      throw explainNodeError(error, ve.node, `VE ${ve.id}`, changing);
    }
  }

  async list(actor: Actor): Promise<VeListing[]> {
    const { store, nodes } = this.options;
    const ves = atLeast(actor.role, 'crew') ? store.ves.active() : store.ves.active(actor.identity);
    const byNode = new Map<string, Map<number, VeStatus> | null>();

    for (const node of new Set(ves.map((ve) => ve.node))) {
      try {
        const listed = (await nodes.call(node, 'list', [])) as VeStatus[];
        byNode.set(node, new Map(listed.map((status) => [status.id, status])));
      } catch (error) {
        // Only a node that did not answer is "unreachable"; anything else is a bug, which the
        // dispatcher logs with a reference.
        if (!isUnreachable(error)) {
          throw error;
        }
        byNode.set(node, null);
      }
    }
    return ves.map((ve) => {
      const statuses = byNode.get(ve.node);
      const live = statuses ? (statuses.get(ve.id) ?? absent(ve.id)) : null;
      return { ve, live };
    });
  }

  async status(actor: Actor, id: number): Promise<{ ve: VeRecord; live: VeStatus }> {
    const ve = this.find(actor, id);
    const [live] = (await this.call(actor, ve, 'status', [], false)) as [VeStatus];
    return { ve, live };
  }

  /**
   * Starts, stops or restarts a VE. `already` is true when a start or stop found the VE in that
   * state and so did nothing.
   */
  async act(actor: Actor, id: number, action: VeAction): Promise<ActOutcome> {
    const ve = this.find(actor, id);
    const target = ALREADY_STATE[action];
    if (target !== undefined) {
      const [before] = (await this.call(actor, ve, 'status', [], false, true)) as [VeStatus];
      if (before.state === target) {
        return { live: before, already: true };
      }
    }
    const [live] = (await this.call(actor, ve, action, [], true)) as [VeStatus];
    return { live, already: false };
  }

  async ubc(actor: Actor, id: number): Promise<UbcRow[]> {
    const ve = this.find(actor, id);
    return (await this.call(actor, ve, 'ubc', [], false)) as UbcRow[];
  }

  async set(actor: Actor, id: number, resource: string, value: string): Promise<void> {
    const ve = this.find(actor, id);
    checkLimitChange(resource, value);
    await this.call(actor, ve, 'set', [resource, value], true);
  }

  /**
   * Installs `publicKey` as the VE owner's login key on the node (the host account takes keys
   * only), replacing any before. The node checks the key; the audit row names its type and
   * fingerprint, never the key itself.
   */
  async authorize(actor: Actor, id: number, publicKey: string): Promise<InstalledKey> {
    const ve = this.find(actor, id);
    let key: AuthorizedKey;
    try {
      [key] = (await this.call(actor, ve, 'authorize', [publicKey], false, true)) as [
        AuthorizedKey,
      ];
    } catch (error) {
      this.audit(actor, 've key', id, 'failed', (error as Error).message);
      if (isAgentFailure(error) && error.code === AgentCode.UNKNOWN_COMMAND) {
        throw new UserFacingError(
          `node ${ve.node} takes no login keys: its agent makes no host accounts (no ` +
            'network.pool in its config); ask the crew',
          { cause: error },
        );
      }
      throw error;
    }
    this.audit(actor, 've key', id, 'ok', `${key.type} ${key.fingerprint} for ${ve.username}`);
    return { ve, key, sshHost: this.options.nodes.loginFor(ve.node).sshHost };
  }

  /**
   * Removing needs the same person to say it twice within a minute; returns false when this
   * call only asked for the confirmation.
   */
  async remove(actor: Actor, id: number, confirmed: boolean): Promise<boolean> {
    const ve = this.find(actor, id);
    const key = `${actor.identity} ${id}`;
    const now = this.options.now().getTime();
    this.forgetExpired(now);
    const asked = this.confirmations.get(key);

    if (!confirmed || asked === undefined) {
      this.confirmations.set(key, now);
      return false;
    }
    this.confirmations.delete(key);
    await this.call(actor, ve, 'remove', [], true);

    const { store } = this.options;
    store.transaction(() => {
      store.ves.markRemoved(id, this.options.now().toISOString());
      this.audit(actor, 've remove', id, 'ok', `on ${ve.node}`);
    });
    return true;
  }
}

function absent(id: number): VeStatus {
  return { id, state: 'absent', address: null, hostname: null, startedAt: null };
}
