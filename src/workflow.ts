/**
 * The request workflow: pending → approved → provisioning → active | failed, and
 * pending → denied | cancelled | expired. Each transition and its audit row are written in one
 * transaction; a transition only happens from the state it expects, so two crew members
 * approving at once cannot both win.
 */
import { subDays } from 'date-fns';

import { UserFacingError } from './errors.ts';
import type { Logger } from './log.ts';
import { loginFor } from './logins.ts';
import type { NodePool } from './nodes.ts';
import type { Notifier } from './notify.ts';
import { unsealOrigin, type OpaqueOrigin } from './origin.ts';
import { chooseNode, idsOnNode, templateFor } from './placement.ts';
import type { Progress, Provisioner } from './provisioner.ts';
import { atLeast, type Role } from './roles.ts';
import type { RequestState, Store, VeRequest } from './store/index.ts';
import { IN_FLIGHT_STATES, OPEN_STATES } from './store/requests.ts';
import { checkActiveQuota, checkRequestQuota } from './quotas.ts';

export interface Actor {
  identity: string;
  role: Role;
}


export interface WorkflowOptions {
  store: Store;
  nodes: NodePool;
  provisioner: Provisioner;
  notifier: Notifier;
  logger: Logger;
  now: () => Date;
  roleOf: (identity: string) => Role;
  expireDays: number;
  quotas: { activeVes: number; pendingRequests: number };
  /** `requests.defaultTemplate`: for a request filed without a template, chosen at approval. */
  defaultTemplate?: string | null;
}

const ALREADY: Record<RequestState, string> = {
  pending: 'is still pending',
  approved: 'is already approved',
  provisioning: 'is already approved',
  active: 'is already approved',
  failed: 'was approved but its VE could not be created',
  denied: 'was denied',
  cancelled: 'was cancelled',
  expired: 'expired',
};

function describeState(request: VeRequest): string {
  const ve = request.veId === null ? '' : ` (VE ${request.veId} on ${request.node})`;
  return `request #${request.id} ${ALREADY[request.state]}${ve}`;
}

export class Workflow {
  constructor(private readonly options: WorkflowOptions) {}

  private at(): string {
    return this.options.now().toISOString();
  }

  get(id: number): VeRequest {
    const request = this.options.store.requests.get(id);
    if (!request) {
      throw new UserFacingError(`there is no request #${id}; !requests lists the open ones`);
    }
    return request;
  }

  /**
   * The login a new request of `actor` would get, after the quota checks; throws a user error
   * when the person may not file one now. Cheap, so a caller may ask before going to the network.
   */
  checkFiling(actor: Actor): string {
    const { store, quotas } = this.options;
    const username = loginFor(store, actor.identity);
    checkRequestQuota(store, quotas, actor);
    return username;
  }

  /**
   * Files a new pending request. The login, the quota check, the insert and its audit row run in
   * one synchronous transaction, so two creates at once cannot both pass the quota or take the
   * same login: whatever the caller awaits (the template's network call) happens before.
   */
  file(actor: Actor, request: { template: string | null; origin: OpaqueOrigin }): VeRequest {
    const { store } = this.options;
    const at = this.at();
    return store.transaction(() => {
      const username = this.checkFiling(actor);
      const filed = store.requests.insert({
        requester: actor.identity,
        username,
        template: request.template,
        origin: unsealOrigin(request.origin),
        at,
      });
      store.audit.add({
        at,
        actor: actor.identity,
        action: 'request filed',
        target: `request #${filed.id}`,
        outcome: 'ok',
        detail: `template ${request.template ?? '(chosen at approval)'}, login ${username}`,
      });
      return filed;
    });
  }

  /** Approves a pending request, then creates its VE; `progress` hears both steps. */
  async approve(actor: Actor, id: number, progress: Progress): Promise<void> {
    this.expireStale();
    const request = this.get(id);

    if (request.state !== 'pending') {
      throw new UserFacingError(describeState(request));
    }
    if (request.requester === actor.identity && actor.role !== 'admin') {
      throw new UserFacingError(
        `request #${id} is your own; another crew member has to approve it`,
      );
    }
    // Asked first so a refusal needs no network, and again in the approving transaction:
    // another approval for the same person may go through while this one awaits the node.
    this.checkRequesterQuota(request);
    const { nodes, store, provisioner, defaultTemplate } = this.options;
    const node = await chooseNode(nodes, store, id);
    const template =
      request.template ?? (await templateFor(nodes, node, defaultTemplate ?? null, id));
    const inUse = await idsOnNode(nodes, node, id);

    const at = this.at();
    const approved = store.transaction(() => {
      const current = store.requests.get(id) as VeRequest;
      if (current.state !== 'pending') {
        throw new UserFacingError(describeState(current));
      }
      this.checkRequesterQuota(current);
      const veId = store.ves.allocateId(inUse);
      store.requests.transition(id, 'pending', {
        state: 'approved',
        at,
        decidedBy: actor.identity,
        veId,
        node,
        template,
      });
      store.audit.add({
        at,
        actor: actor.identity,
        action: 'request approved',
        target: `request #${id}`,
        outcome: 'ok',
        detail: `VE ${veId} on ${node}${request.template === null ? `, template ${template}` : ''}`,
      });
      return store.requests.get(id) as VeRequest;
    });

    await progress({
      lines: [`request #${id} approved, creating VE ${approved.veId} on ${node}…`],
    });
    const tellRequester = approved.requester !== actor.identity;
    await provisioner.provision(approved, actor.identity, progress, tellRequester);
  }

  /** Throws when the requester (not an admin) holds their quota of VEs, approved ones counted. */
  private checkRequesterQuota(request: VeRequest): void {
    if (this.options.roleOf(request.requester) === 'admin') {
      return;
    }
    const outcome = `, request #${request.id} kept pending`;
    const who = `${request.requester} already holds`;
    checkActiveQuota(this.options.store, this.options.quotas, request.requester, who, outcome);
  }

  deny(actor: Actor, id: number, reason: string | null): VeRequest {
    return this.close(actor, id, 'denied', reason);
  }

  cancel(actor: Actor, id: number): VeRequest {
    const request = this.get(id);
    if (request.requester !== actor.identity && !atLeast(actor.role, 'crew')) {
      throw new UserFacingError(`request #${id} is not yours to cancel`);
    }
    return this.close(actor, id, 'cancelled', null);
  }

  private close(
    actor: Actor,
    id: number,
    state: 'denied' | 'cancelled',
    reason: string | null,
  ): VeRequest {
    this.expireStale();
    const { store } = this.options;
    const at = this.at();

    const closed = store.transaction(() => {
      const request = this.get(id);
      if (request.state !== 'pending') {
        throw new UserFacingError(describeState(request));
      }
      store.requests.transition(id, 'pending', {
        state,
        at,
        decidedBy: actor.identity,
        ...(reason === null ? {} : { reason }),
      });
      store.audit.add({
        at,
        actor: actor.identity,
        action: `request ${state}`,
        target: `request #${id}`,
        outcome: 'ok',
        detail: reason,
      });
      return store.requests.get(id) as VeRequest;
    });

    if (closed.requester !== actor.identity) {
      const why = reason ? `: ${reason}` : '';
      void this.options.notifier.toUser(closed.requester, {
        lines: [`your request #${id} was ${state} by ${actor.identity}${why}`],
      });
    }
    return closed;
  }

  /** Marks pending requests older than expireDays as expired; returns how many. */
  expireStale(): number {
    const { store, expireDays, logger } = this.options;
    const now = this.options.now();
    const cutoff = subDays(now, expireDays).toISOString();

    const stale = store.requests.pendingBefore(cutoff);
    for (const request of stale) {
      store.transaction(() => {
        const at = now.toISOString();
        if (store.requests.transition(request.id, 'pending', { state: 'expired', at })) {
          store.audit.add({
            at,
            actor: 'system',
            action: 'request expired',
            target: `request #${request.id}`,
            outcome: 'ok',
            detail: `pending for more than ${expireDays} days`,
          });
        }
      });
    }
    if (stale.length > 0) {
      logger.info({ count: stale.length }, 'expired stale requests');
    }
    return stale.length;
  }

  /** Open requests: everyone's for the crew, one's own for a student. */
  open(actor: Actor): VeRequest[] {
    this.expireStale();
    const states = [...OPEN_STATES, ...IN_FLIGHT_STATES];
    const mine = atLeast(actor.role, 'crew') ? undefined : actor.identity;
    return this.options.store.requests.inStates(states, mine);
  }

  get expireDays(): number {
    return this.options.expireDays;
  }
}
