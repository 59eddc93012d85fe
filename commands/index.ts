/**
 * The explicit command registry: adding a command means adding it to one of these lists, never
 * touching the dispatcher. The order here is the order !help shows.
 */
import { ADMIN_COMMANDS } from './admin.ts';
import { ALERT_COMMANDS } from './alerts.ts';
import { HELP_COMMANDS } from './help.ts';
import { REQUEST_COMMANDS } from './requests.ts';
import type { CommandSpec } from './types.ts';
import { VE_COMMANDS } from './ve.ts';

export const COMMANDS: readonly CommandSpec[] = [
  ...HELP_COMMANDS,
  ...REQUEST_COMMANDS,
  ...VE_COMMANDS,
  ...ALERT_COMMANDS,
  ...ADMIN_COMMANDS,
];
