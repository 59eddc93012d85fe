/** !help and !whoami: the two commands anyone may use, identified or not. */
import type { Reply } from '../adapters/types.ts';
import { echo } from '../src/tokenize.ts';
import { UserFacingError } from '../src/errors.ts';
import { atLeast } from '../src/roles.ts';
import { define, type CommandSpec } from './types.ts';

function allowed(spec: CommandSpec, role: Parameters<typeof atLeast>[0] | null): boolean {
  if (spec.role === 'anyone') {
    return true;
  }
  return role !== null && atLeast(role, spec.role);
}

/** `!help ve`: the group's subcommands, one line each, or a refusal naming no such command. */
function groupHelp(
  registry: readonly CommandSpec[],
  group: string,
  role: Parameters<typeof atLeast>[0] | null,
): Reply {
  const members = registry.filter((spec) => spec.name.startsWith(`${group} `));
  if (members.length === 0) {
    throw new UserFacingError(`no command '${echo(group)}'; !help lists them all`);
  }
  const usable = members.filter((spec) => allowed(spec, role));
  const lines = [`the !${group} group has these subcommands:`, ...usageLines(usable)];
  const hidden = members.length - usable.length;
  if (hidden > 0) {
    lines.push(`(and ${hidden} more for the crew)`);
  }
  return { lines, long: true };
}

/** One line a command; each starts with a bullet, as no reply line may start with the prefix. */
function usageLines(specs: readonly CommandSpec[]): string[] {
  const width = Math.max(...specs.map((spec) => spec.usage.length + 1));
  return specs.map((spec) => `· !${spec.usage}`.padEnd(width + 4) + spec.summary);
}

export const help = define({
  name: 'help',
  aliases: ['commands'],
  usage: 'help [command]',
  summary: 'list the commands you may use, or explain one',
  role: 'anyone',
  args: [{ name: 'command', type: 'rest', optional: true }],
  mutating: false,
  async handler({ args, caller, services, respond }) {
    const asked = args.optionalText('command')?.toLowerCase().replace(/^!/, '');

    if (asked) {
      const spec = services.registry.find(
        (entry) => entry.name === asked || (entry.aliases ?? []).includes(asked),
      );
      if (!spec) {
        await respond(groupHelp(services.registry, asked, caller.role));
        return;
      }
      const lines = [`usage: !${spec.usage}`, `  ${spec.summary}`];
      lines.push(`  role: ${spec.role}${spec.mutating ? ', changes things' : ''}`);
      if (spec.aliases?.length) {
        lines.push(`  also: ${spec.aliases.map((alias) => `!${alias}`).join(', ')}`);
      }
      await respond({ lines, long: true });
      return;
    }
    const usable = services.registry.filter((spec) => allowed(spec, caller.role));
    const lines = usageLines(usable);
    if (caller.identity === null) {
      const how = caller.identifyHint === null ? '' : ` (${caller.identifyHint})`;
      lines.push(`identify with your network's services${how} to use the other commands`);
    }
    await respond({ lines, long: true, summary: `${usable.length} commands; sent you the list` });
  },
});

export const whoami = define({
  name: 'whoami',
  usage: 'whoami',
  summary: 'show who the bot thinks you are and your role',
  role: 'anyone',
  args: [],
  mutating: false,
  async handler({ caller, services, respond }) {
    if (caller.identity === null) {
      const how = caller.identifyHint === null ? '' : ` (${caller.identifyHint})`;
      await respond({
        lines: [
          `you are ${caller.display}, but your network does not vouch for you: identify with ` +
            `its services${how} and try again`,
        ],
      });
      return;
    }
    const { role, source } = services.roles.explain(caller.identity);
    const FROM = {
      default: '',
      config: ` (${services.roleSource})`,
      grant: ' (granted with !grant)',
    };
    const from = FROM[source];
    await respond({ lines: [`you are ${caller.identity}, role ${role}${from}`] });
  },
});

export const HELP_COMMANDS = [help, whoami];
