import type { CommandSpec } from '../commands/types.ts';
import type { NodePool } from './nodes.ts';
import type { Notifier } from './notify.ts';
import type { Roles } from './roles.ts';
import type { Store } from './store/index.ts';
import type { VeOperations } from './ve-ops.ts';
import type { Workflow } from './workflow.ts';

/** What command handlers may use; built once by the bot and shared by every command. */
export interface Services {
  store: Store;
  nodes: NodePool;
  roles: Roles;
  workflow: Workflow;
  ves: VeOperations;
  notifier: Notifier;
  registry: readonly CommandSpec[];
  defaultTemplate: string | null;
  /** How !whoami explains a role from the config: `from the config`, or the demo's words. */
  roleSource: string;
  now: () => Date;
}
