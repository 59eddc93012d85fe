/**
 * `!templates update`: every node syncs its template cache from its own `templateSource` (the
 * agent's `update`), all at once, and each answers for itself. A node that is down or has no
 * source is reported as such; the others still run.
 */
import { AgentCode, type SyncFailure, type SyncResult } from '../agent/protocol.ts';
import { agentReason, isAgentFailure, isUnreachable, type NodePool } from './nodes.ts';

/** The agent gives `update` 30 minutes; a little more, so its own timeout answer comes first. */
export const UPDATE_CALL_TIMEOUT_MS = 31 * 60_000;

export type NodeUpdate =
  | { node: string; outcome: 'synced'; result: SyncResult }
  | { node: string; outcome: 'unreachable' }
  | { node: string; outcome: 'not set up' }
  | { node: string; outcome: 'failed'; reason: string };

function names(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : null;
}

/** Checks the agent's answer; null when it is not the documented shape. */
export function parseSyncResult(returned: unknown[]): SyncResult | null {
  const value = returned[0] as Record<string, unknown> | null | undefined;
  if (typeof value !== 'object' || value === null) {
    return null;
  }
  const added = names(value.added);
  const updated = names(value.updated);
  const unchanged = names(value.unchanged);
  const failed = Array.isArray(value.failed) ? value.failed : null;
  const fine = failed?.every(
    (item: unknown) =>
      typeof (item as SyncFailure | null)?.name === 'string' &&
      typeof (item as SyncFailure | null)?.reason === 'string',
  );
  if (!added || !updated || !unchanged || !failed || !fine) {
    return null;
  }
  return { added, updated, unchanged, failed: failed as SyncFailure[] };
}

async function updateOne(nodes: NodePool, node: string): Promise<NodeUpdate> {
  try {
    const returned = await nodes.call(node, 'update', [], { timeoutMs: UPDATE_CALL_TIMEOUT_MS });
    const result = parseSyncResult(returned);
    if (result === null) {
      return { node, outcome: 'failed', reason: 'the agent answered something unexpected' };
    }
    return { node, outcome: 'synced', result };
  } catch (error) {
    if (isUnreachable(error)) {
      return { node, outcome: 'unreachable' };
    }
    if (isAgentFailure(error) && error.code === AgentCode.UNKNOWN_COMMAND) {
      return { node, outcome: 'not set up' };
    }
    if (isAgentFailure(error)) {
      return { node, outcome: 'failed', reason: agentReason(error) };
    }
    throw error;
  }
}

/** Runs `update` on every configured node at once; the answers come in config order. */
export async function updateTemplates(nodes: NodePool): Promise<NodeUpdate[]> {
  return Promise.all(nodes.names().map((node) => updateOne(nodes, node)));
}

function listed(label: string, items: string[]): string[] {
  return items.length > 0 ? [`  ${label}: ${items.join(', ')}`] : [];
}

/** One block of lines per node, for chat. */
export function describeUpdates(updates: readonly NodeUpdate[]): string[] {
  return updates.flatMap((update): string[] => {
    const { node } = update;
    switch (update.outcome) {
      case 'unreachable':
        return [`${node}: unreachable; its templates were not updated, try again later`];
      case 'not set up':
        return [`${node}: no templateSource in its agent config, so nothing to update`];
      case 'failed':
        return [`${node}: update failed: ${update.reason}`];
      case 'synced': {
        const { added, updated, unchanged, failed } = update.result;
        const counts =
          `${added.length} added, ${updated.length} updated, ` +
          `${unchanged.length} unchanged, ${failed.length} failed`;
        return [
          `${node}: ${counts}`,
          ...listed('added', added),
          ...listed('updated', updated),
          ...failed.map((failure) => `  failed: ${failure.name} (${failure.reason})`),
        ];
      }
    }
  });
}
