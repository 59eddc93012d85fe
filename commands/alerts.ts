/** The beancounter watcher's commands: the recent alerts, and muting one VE for a while. */
import { UserFacingError } from '../src/errors.ts';
import { atLeast } from '../src/roles.ts';
import {
  DEFAULT_ALERT_LIST,
  MAX_ALERT_LIST,
  muteVe,
  recentAlertLines,
} from '../src/watcher/queries.ts';
import { SqliteBaselineStore } from '../src/watcher/sqlite-store.ts';
import { actorOf } from './actor.ts';
import { VE_ID_ARG } from './args.ts';
import { define, type CommandContext } from './types.ts';

/** The watcher's tables live in the bot's database, so the commands work with polling off. */
function alertStore(context: CommandContext): SqliteBaselineStore {
  return new SqliteBaselineStore(context.services.store.db);
}

export const alertsList = define({
  name: 'alerts',
  usage: 'alerts [N]',
  summary: `the last N beancounter alerts (default ${DEFAULT_ALERT_LIST}, at most ` +
    `${MAX_ALERT_LIST}) and running mutes`,
  role: 'crew',
  args: [{ name: 'N', type: 'int', optional: true, min: 1, max: MAX_ALERT_LIST }],
  mutating: false,
  async handler(context) {
    const now = context.services.now().getTime();
    const count = context.args.optionalInt('N') ?? DEFAULT_ALERT_LIST;
    const lines = recentAlertLines(alertStore(context), now, count);
    await context.respond({ lines, long: true, summary: 'recent beancounter alerts' });
  },
});

export const alertsMute = define({
  name: 'alerts mute',
  usage: 'alerts mute ID DURATION',
  summary: 'silence beancounter alerts of a VE for a while (30m, 2h, 1d); owners may mute theirs',
  role: 'student',
  args: [
    VE_ID_ARG,
    { name: 'DURATION', type: 'word' },
  ],
  mutating: true,
  async handler(context) {
    const actor = actorOf(context);
    const id = context.args.int('ID');

    // The crew may mute any VE, managed or not; a student only a VE that is theirs now.
    if (!atLeast(actor.role, 'crew')) {
      const ve = context.services.store.ves.get(id);
      if (ve === null || ve.state !== 'active' || ve.owner !== actor.identity) {
        throw new UserFacingError(
          `VE ${id} is not one of your VEs (!ve list shows them); ask the crew to mute it`,
        );
      }
    }
    const lines = muteVe(alertStore(context), {
      ve: String(id),
      duration: context.args.text('DURATION'),
      by: actor.identity,
      now: context.services.now().getTime(),
    });
    await context.respond({ lines });
  },
});

export const ALERT_COMMANDS = [alertsList, alertsMute];
