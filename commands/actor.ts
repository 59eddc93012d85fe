import type { Actor } from '../src/workflow.ts';
import type { CommandContext } from './types.ts';

/** The caller as someone who may act; the dispatcher lets only identified people this far. */
export function actorOf(context: CommandContext): Actor {
  const { identity, role } = context.caller;
  if (identity === null || role === null) {
    throw new Error('an unidentified caller reached a command that needs an identity');
  }
  return { identity, role };
}
