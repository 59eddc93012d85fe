/**
 * Turns an approved request into a VE on its node, and on start-up finishes what a previous run
 * left half done. A VE is created only after the node says it does not exist, so a request is
 * never created twice; an answer we cannot be sure of leaves the request in provisioning.
 */
import type { Reply } from '../adapters/types.ts';
import { AgentCode, type VeStatus } from '../agent/protocol.ts';
import type { Logger } from './log.ts';
import { loginMessage } from './login-message.ts';
import { agentReason, isAgentFailure, isUnreachable, type NodePool } from './nodes.ts';
import type { Notifier } from './notify.ts';
import type { Store, VeRequest } from './store/index.ts';
import { IN_FLIGHT_STATES } from './store/requests.ts';

/** vzctl's status when another vzctl holds the VE's lock. */
const VZ_LOCKED = 9;

/**
 * Answers that do not tell whether the VE exists: leave the request for reconciling. A held
 * lock (9) is one: after an agent restart, the create it started may still run and finish.
 */
const UNSURE_CODES: readonly number[] = [AgentCode.VE_BUSY, AgentCode.TIMEOUT, VZ_LOCKED];

/**
 * True when `status` is the VE the agent made for `username`: create names it USERNAME, or
 * USERNAME.DOMAIN when the node has a domain. Anything else (another login, no hostname) is a
 * VE someone else made with that ID.
 */
function madeFor(status: VeStatus, username: string): boolean {
  const hostname = status.hostname?.toLowerCase() ?? null;
  return hostname === username || (hostname?.startsWith(`${username}.`) ?? false);
}

export type Progress = (reply: Reply) => Promise<void>;

export interface ProvisionerOptions {
  store: Store;
  nodes: NodePool;
  notifier: Notifier;
  logger: Logger;
  now: () => Date;
}

export class Provisioner {
  /** Requests this process is provisioning now; reconciling leaves them alone. */
  private readonly busy = new Set<number>();

  constructor(private readonly options: ProvisionerOptions) {}

  /** Creates the VE of a request in state approved (or provisioning, when reconciling). */
  async provision(
    request: VeRequest,
    actor: string,
    progress: Progress,
    tellRequester: boolean,
  ): Promise<void> {
    const { nodes, logger } = this.options;
    const { id, veId, node, template } = request;
    // Approval stores the VE ID, the node and (for a request filed without one) the template.
    if (veId === null || node === null || template === null || this.busy.has(id)) {
      return;
    }
    this.busy.add(id);
    const log = logger.child({ request: id, ve: veId, node });

    try {
      if (request.state === 'approved') {
        this.move(request, 'approved', 'provisioning', actor, null);
      }
      let created: VeStatus | undefined;
      try {
        [created] = (await nodes.call(node, 'create', [veId, template, request.username])) as
          [VeStatus?];
      } catch (error) {
        await this.createFailed(request, actor, error, progress, tellRequester);
        return;
      }
      const activated = this.activate(request, actor);
      log.info('VE created');
      await this.announce(request, progress, tellRequester, {
        lines: [`VE ${veId} is active on ${node} (request #${id}, login ${request.username})`],
      });
      if (activated) {
        await this.tellLogin(request, created?.address ?? null);
      }
    } finally {
      this.busy.delete(id);
    }
  }

  private async createFailed(
    request: VeRequest,
    actor: string,
    error: unknown,
    progress: Progress,
    tellRequester: boolean,
  ): Promise<void> {
    const { id, veId, node } = request;
    const log = this.options.logger.child({ request: id, ve: veId, node });

    if (isUnreachable(error) || (isAgentFailure(error) && UNSURE_CODES.includes(error.code))) {
      log.warn({ err: error }, 'create outcome unknown; left in provisioning');
      await progress({
        lines: [
          `node ${node} did not confirm VE ${veId}; request #${id} stays in provisioning and ` +
            `is finished when the node answers again`,
        ],
      });
      return;
    }
    if (!isAgentFailure(error)) {
      throw error;
    }
    const reason = agentReason(error);
    this.move(request, 'provisioning', 'failed', actor, reason);
    log.warn({ err: error, code: error.code }, 'create failed');
    await this.announce(request, progress, tellRequester, {
      lines: [`creating VE ${veId} on ${node} failed: ${reason}; request #${id} is failed`],
    });
  }

  /** Tells the asker, the requester (when someone else) and the alert channel of a channel ask. */
  private async announce(
    request: VeRequest,
    progress: Progress,
    tellRequester: boolean,
    reply: Reply,
  ): Promise<void> {
    const { notifier } = this.options;
    await progress(reply);

    if (request.origin?.conversation.kind === 'channel') {
      await notifier.toAlerts(reply, request.origin.adapter);
    }
    if (tellRequester) {
      await notifier.toUser(request.requester, reply);
    }
  }

  private move(
    request: VeRequest,
    from: 'approved' | 'provisioning',
    to: 'provisioning' | 'failed',
    actor: string,
    reason: string | null,
  ): void {
    const { store } = this.options;
    const at = this.options.now().toISOString();
    store.transaction(() => {
      const moved = store.requests.transition(request.id, from, {
        state: to,
        at,
        ...(reason === null ? {} : { reason }),
      });
      if (moved) {
        const detail = `VE ${request.veId} on ${request.node}${reason ? `: ${reason}` : ''}`;
        store.audit.add({
          at,
          actor,
          action: `request ${to}`,
          target: `request #${request.id}`,
          outcome: to === 'failed' ? 'failed' : 'ok',
          detail,
        });
      }
    });
  }

  /** Privately, to the owner: how to reach the new VE (`address` from the node's answer). */
  private async tellLogin(request: VeRequest, address: string | null): Promise<void> {
    const { veId, node } = request as VeRequest & { veId: number; node: string };
    const login = this.options.nodes.loginFor(node);
    await this.options.notifier.toUser(
      request.requester,
      loginMessage(veId, request.username, login, address),
    );
  }

  /** True when this call made the request active (false: someone else already had). */
  private activate(request: VeRequest, actor: string): boolean {
    const { store } = this.options;
    const at = this.options.now().toISOString();
    const { veId, node } = request as VeRequest & { veId: number; node: string };

    return store.transaction(() => {
      if (!store.requests.transition(request.id, 'provisioning', { state: 'active', at })) {
        return false;
      }
      store.ves.insert({
        id: veId,
        node,
        owner: request.requester,
        username: request.username,
        // Approval chose the template of a request filed without one; '' only for a database
        // edited by hand.
        template: request.template ?? '',
        requestId: request.id,
        createdAt: at,
      });
      store.audit.add({
        at,
        actor,
        action: 'request active',
        target: `request #${request.id}`,
        outcome: 'ok',
        detail: `VE ${veId} on ${node}`,
      });
      return true;
    });
  }

  /** A request whose VE ID the node gives to someone else's VE fails; that VE is left alone. */
  private async notOurs(request: VeRequest, status: VeStatus): Promise<void> {
    const { veId, node, id } = request;
    const hostname = status.hostname === null ? 'no hostname' : `hostname ${status.hostname}`;
    const reason =
      `VE ${veId} on ${node} is not the one made for login ${request.username} (${hostname}); ` +
      'it was left alone';
    const from = request.state === 'approved' ? 'approved' : 'provisioning';
    this.move(request, from, 'failed', 'system', reason);
    await this.options.notifier.toUser(request.requester, {
      lines: [`request #${id} failed: ${reason}; file a new request with !ve create`],
    });
  }

  /**
   * Finishes requests a previous run (or an unreachable node) left approved or provisioning:
   * a VE the node already has makes the request active; a VE it does not have is created now.
   */
  async reconcile(): Promise<void> {
    const { store, nodes, logger } = this.options;
    const open = store.requests.inStates(IN_FLIGHT_STATES);

    for (const request of open) {
      if (this.busy.has(request.id) || request.veId === null || request.node === null) {
        continue;
      }
      const log = logger.child({ request: request.id, ve: request.veId, node: request.node });
      let status: VeStatus;
      try {
        [status] = (await nodes.call(request.node, 'status', [request.veId])) as [VeStatus];
      } catch (error) {
        log.warn({ err: error }, 'cannot reconcile yet: no status from the node');
        continue;
      }
      if (status.state === 'absent') {
        log.info('reconcile: VE absent, creating it');
        await this.provision(request, 'system', async () => {}, true);
        continue;
      }
      if (!madeFor(status, request.username)) {
        log.warn({ hostname: status.hostname }, 'reconcile: the VE is not this request\'s');
        await this.notOurs(request, status);
        continue;
      }
      log.info({ state: status.state }, 'reconcile: VE exists, request active');
      if (request.state === 'approved') {
        this.move(request, 'approved', 'provisioning', 'system', null);
      }
      const activated = this.activate(request, 'system');
      await this.options.notifier.toUser(request.requester, {
        lines: [`VE ${request.veId} is active on ${request.node} (request #${request.id})`],
      });
      if (activated) {
        await this.tellLogin(request, status.address);
      }
    }
  }
}
