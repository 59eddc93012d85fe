/**
 * Which OS template a new request gets: the one asked for, if a node has it; otherwise the
 * configured default, otherwise the first template the first reachable node offers.
 */
import { UserFacingError } from './errors.ts';
import type { NodePool } from './nodes.ts';

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
    } catch {
      continue;
    }
  }
  return null;
}

export async function pickTemplate(
  nodes: NodePool,
  wanted: string | undefined,
  fallback: string | null,
): Promise<string> {
  if (wanted !== undefined && !TEMPLATE_NAME.test(wanted)) {
    throw new UserFacingError(`'${wanted}' is not a template name; !templates lists them`);
  }
  const offered = await listTemplates(nodes);
  const choice = wanted ?? fallback ?? offered?.names[0];

  if (choice === undefined) {
    throw new UserFacingError(
      'no node answers to list its templates; name one: !ve create TEMPLATE (see !templates)',
    );
  }
  if (offered && !offered.names.includes(choice)) {
    const known = offered.names.join(', ') || 'none';
    throw new UserFacingError(`template ${choice} is not on ${offered.node} (it has: ${known})`);
  }
  return choice;
}
