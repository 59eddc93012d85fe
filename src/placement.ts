/**
 * Where an approved request's VE goes, asked of the nodes before the approving transaction: the
 * node, the template of a request filed without one, and the IDs the node already uses. A node
 * that does not answer keeps the request pending, and the reply says to approve it again later.
 */
import type { VeStatus } from '../agent/protocol.ts';
import { UserFacingError } from './errors.ts';
import { isAgentFailure, isUnreachable, whyUnreachable, type NodePool } from './nodes.ts';
import type { Store } from './store/index.ts';
import { IN_FLIGHT_STATES } from './store/requests.ts';
import { templateAtApproval } from './templates.ts';

const AGAIN_LATER = 'approve it again later';

/** `a`, `a and b`, `a, b and c`. */
export function wordList(items: readonly string[]): string {
  if (items.length <= 1) {
    return items.join('');
  }
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The reachable node with the fewest active VEs (config order breaks ties). */
export async function chooseNode(nodes: NodePool, store: Store, id: number): Promise<string> {
  const reachable = await nodes.reachable();

  if (reachable.length === 0) {
    const all = nodes.names();
    const which = all.length === 1 ? `node ${all[0]}` : `nodes ${wordList(all)}`;
    throw new UserFacingError(`${which} unreachable, request #${id} kept pending; ${AGAIN_LATER}`);
  }
  const inFlight = store.requests.inStates(IN_FLIGHT_STATES);
  const load = (node: string): number =>
    store.ves.countActiveByNode(node) + inFlight.filter((r) => r.node === node).length;
  return reachable.reduce((best, node) => (load(node) < load(best) ? node : best));
}

/** The template of a request filed while no node answered: the default, or the node's. */
export async function templateFor(
  nodes: NodePool,
  node: string,
  defaultTemplate: string | null,
  id: number,
): Promise<string> {
  try {
    return await templateAtApproval(nodes, node, defaultTemplate, id);
  } catch (error) {
    throw keptPending(error, node, 'its templates', id);
  }
}

/** The VE IDs `node` has now, made by the bot or not, so that a new VE takes none of them. */
export async function idsOnNode(nodes: NodePool, node: string, id: number): Promise<Set<number>> {
  try {
    const listed = (await nodes.call(node, 'list', [])) as VeStatus[];
    return new Set(listed.map((ve) => ve.id));
  } catch (error) {
    throw keptPending(error, node, 'its VEs', id);
  }
}

/** A node that did not answer becomes a user error; anything else is passed on untouched. */
function keptPending(error: unknown, node: string, what: string, id: number): unknown {
  if (isUnreachable(error) || isAgentFailure(error)) {
    return new UserFacingError(
      `node ${node} did not list ${what} (${whyUnreachable(error)}), request #${id} ` +
        `kept pending; ${AGAIN_LATER}`,
      { cause: error },
    );
  }
  return error;
}
