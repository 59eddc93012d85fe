/**
 * Which OS template a new request gets: the one asked for, if a node has it; otherwise the
 * configured default, otherwise the first template the first reachable node offers, or (no node
 * answering) the first one of the node that approval picks.
 */
import { UserFacingError } from './errors.ts';
import { isUnreachable, type NodePool } from './nodes.ts';
import { echo } from './tokenize.ts';

/** A template is a tarball name in the node's cache: no paths, nothing a shell would read. */
const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The templates of the first node that answers, or null when none does. */
export async function listTemplates(
  nodes: NodePool,
): Promise<{ node: string; names: string[] } | null> {
  for (const node of await nodes.reachable()) {
    try {
      const names = (await nodes.call(node, 'templates', [])) as string[];
      return { node, names };
    } catch (error) {
      // The next node may answer instead of one that did not; any other failure is a bug, which
      // the dispatcher logs with a reference.
      if (!isUnreachable(error)) {
        throw error;
      }
    }
  }
  return null;
}

/**
 * The template for a new request: the one asked for, else the configured default, else the
 * first one a reachable node offers. Null when none is named and no node answers: the request
 * is filed anyway and the node's default is chosen when it is approved.
 */
export async function pickTemplate(
  nodes: NodePool,
  wanted: string | undefined,
  fallback: string | null,
): Promise<string | null> {
  if (wanted !== undefined && !TEMPLATE_NAME.test(wanted)) {
    throw new UserFacingError(`'${echo(wanted)}' is not a template name; !templates lists them`);
  }
  const offered = await listTemplates(nodes);
  const choice = wanted ?? fallback ?? offered?.names[0] ?? null;

  if (offered && choice === null) {
    throw new UserFacingError(
      `${offered.node} has no OS templates yet; ask the crew to add one (!templates update)`,
    );
  }
  if (offered && choice !== null && !offered.names.includes(choice)) {
    const known = offered.names.join(', ') || 'none';
    throw new UserFacingError(`template ${choice} is not on ${offered.node} (it has: ${known})`);
  }
  return choice;
}

/** The template approval gives a request filed without one: the default, or the node's first. */
export async function templateAtApproval(
  nodes: NodePool,
  node: string,
  fallback: string | null,
  requestId: number,
): Promise<string> {
  if (fallback !== null) {
    return fallback;
  }
  const names = (await nodes.call(node, 'templates', [])) as string[];
  const first = names[0];
  if (first === undefined) {
    throw new UserFacingError(
      `${node} has no OS templates, request #${requestId} kept pending; add one with ` +
        '!templates update, then approve it again',
    );
  }
  return first;
}
