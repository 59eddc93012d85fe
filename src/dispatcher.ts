/**
 * From an InboundMessage to a command run: tokenize, find the command, check the caller's role,
 * parse the arguments, run the handler, audit it. User mistakes go back verbatim; anything else
 * is logged with its context and the person gets a short reply with a reference.
 */
import { randomUUID } from 'node:crypto';
import { subDays } from 'date-fns';

import type { InboundMessage, Respond } from '../adapters/types.ts';
import type { Args, CommandContext, CommandSpec } from '../commands/types.ts';
import { BadArgumentsError, UserFacingError } from './errors.ts';
import type { Logger } from './log.ts';
import { parseArgs } from './parse-args.ts';
import { sealOrigin } from './origin.ts';
import { atLeast, type Role } from './roles.ts';
import type { Services } from './services.ts';
import type { AuditOutcome } from './store/index.ts';
import { distance, echo, tokenize } from './tokenize.ts';

export const PREFIX = '!';
/** The longest command line taken from any adapter; longer ones are refused unread. */
export const MAX_COMMAND_CHARS = 500;
const EVENT_MEMORY_DAYS = 7;
const SUGGESTIONS = 3;
/**
 * Put before a reply line that would start with the command prefix, so that no bot in a channel
 * (this one included) takes the reply for a command. No space after it: adapters may trim.
 */
export const PREFIX_GUARD = '»';

interface Match {
  spec: CommandSpec;
  rest: string[];
}

export interface DispatcherOptions {
  commands: readonly CommandSpec[];
  services: Services;
  logger: Logger;
}

export class Dispatcher {
  /** Every name and alias, split into words, longest first so `ve create` beats `ve`. */
  private readonly names: { words: string[]; spec: CommandSpec }[];

  constructor(private readonly options: DispatcherOptions) {
    this.names = options.commands
      .flatMap((spec) => [spec.name, ...(spec.aliases ?? [])].map((name) => ({ name, spec })))
      .map(({ name, spec }) => ({ words: name.split(' '), spec }))
      .sort((a, b) => b.words.length - a.words.length);
  }

  /**
   * The MessageHandler adapters call. It never throws: what goes wrong past the handler's own
   * error path (a failed audit write, an adapter that cannot send) is logged here, since an
   * adapter's loop has nothing better to do with it.
   */
  readonly handle = async (message: InboundMessage, raw: Respond): Promise<void> => {
    try {
      await this.dispatch(message, guarded(raw));
    } catch (error) {
      this.options.logger.error({ err: error, adapter: message.adapter }, 'message not handled');
    }
  };

  private async dispatch(message: InboundMessage, respond: Respond): Promise<void> {
    const text = this.commandText(message);
    if (text === null) {
      return;
    }
    let words: string[] = [];
    let unreadable: UserFacingError | null = null;
    try {
      words = this.commandWords(text, message.text.trim().length);
    } catch (error) {
      if (!(error instanceof UserFacingError)) {
        throw error;
      }
      unreadable = error;
    }
    if (unreadable === null && words.length === 0) {
      return;
    }
    const { services, logger } = this.options;
    const now = services.now();

    if (message.eventId !== undefined) {
      const key = `${message.adapter}:${message.eventId}`;
      if (!services.store.events.claim(key, now.toISOString())) {
        logger.debug({ adapter: message.adapter, eventId: message.eventId }, 'duplicate event');
        return;
      }
    }
    const actor = actorOf(message);
    const log = logger.child({ identity: message.sender.identity, adapter: message.adapter });
    // Recorded before the answer, so that an adapter failing to send loses no audit row.
    if (unreadable !== null) {
      this.record(log, actor, 'command unreadable', echo(text), 'refused', unreadable.message);
      await respond({ lines: [unreadable.message] });
      return;
    }
    const match = this.lookup(words) ?? this.groupHelp(words);
    if (!match) {
      const reply = this.unknown(words);
      this.record(log, actor, 'unknown command', echo(words.join(' ')), 'refused', reply);
      await respond({ lines: [reply] });
      return;
    }
    await this.run(match, message, respond);
  }

  /** The text of a command after its prefix, or null when the message is not one. */
  private commandText(message: InboundMessage): string | null {
    const text = message.text.trimStart();
    if (text.startsWith(PREFIX)) {
      return text.slice(PREFIX.length);
    }
    return message.conversation.kind === 'private' ? text : null;
  }

  /**
   * The words of a command; throws on an unclosed quote or a line too long to be a command
   * (whatever the adapter let through). The cap counts the whole line as typed, prefix included.
   */
  private commandWords(text: string, lineLength: number): string[] {
    if (lineLength > MAX_COMMAND_CHARS) {
      throw new UserFacingError(
        `command too long (${lineLength} characters; at most ${MAX_COMMAND_CHARS})`,
      );
    }
    return tokenize(text);
  }

  private lookup(words: string[]): Match | null {
    const lowered = words.map((word) => word.toLowerCase());
    for (const { words: name, spec } of this.names) {
      if (name.every((part, index) => lowered[index] === part)) {
        return { spec, rest: words.slice(name.length) };
      }
    }
    return null;
  }

  /** A group name alone (`!ve`) runs `!help ve`, as the README promises. */
  private groupHelp(words: string[]): Match | null {
    const group = words[0]?.toLowerCase() ?? '';
    if (words.length !== 1 || this.subcommands(group).length === 0) {
      return null;
    }
    return this.lookup(['help', group]);
  }

  private unknown(words: string[]): string {
    const first = words[0]?.toLowerCase() ?? '';
    const group = this.names.filter(({ words: name }) => name.length > 1 && name[0] === first);
    // Reached only in a registry without !help, which groupHelp would otherwise run.
    if (group.length > 0 && words.length === 1) {
      const subcommands = this.subcommands(first).join(', ');
      return `the command ${PREFIX}${echo(first)} needs one of: ${subcommands}`;
    }
    // Within a group (`ve ...`) only its subcommands are candidates; otherwise single words.
    // Only the command words are compared and echoed, never the arguments after them.
    const candidates =
      group.length > 0 ? group : this.names.filter(({ words: name }) => name.length === 1);
    const typedWords = words.slice(0, group.length > 0 ? 2 : 1).map((word) => word.toLowerCase());
    const typed = typedWords.join(' ');
    const scored = candidates
      .map(({ words: name, spec }) => ({ spec, score: distance(typed, name.join(' ')) }))
      .filter(({ score, spec }) => score <= Math.max(2, Math.floor(spec.name.length / 3)))
      .sort((a, b) => a.score - b.score);

    const names = [...new Set(scored.map(({ spec }) => `${PREFIX}${spec.name}`))];
    const shown = typedWords.map(echo).join(' ');
    const hint = names.length > 0 ? `did you mean ${names.slice(0, SUGGESTIONS).join(', ')}?` : '';
    return `unknown command '${shown}'; ${hint || `${PREFIX}help lists the commands`}`;
  }

  /** The subcommands of a group (`ve` → create, list, …), in registry order. */
  private subcommands(group: string): string[] {
    const found = this.options.commands
      .filter((spec) => spec.name.startsWith(`${group} `))
      .map((spec) => spec.name.slice(group.length + 1));
    return [...new Set(found)];
  }

  // Replies never start with the command prefix, so other bots in a channel cannot take them
  // for commands.
  private refusal(
    spec: CommandSpec,
    identity: string | null,
    role: Role | null,
    identifyHint: string | undefined,
  ): string | null {
    if (spec.role === 'anyone') {
      return null;
    }
    if (identity === null || role === null) {
      const how = identifyHint === undefined ? '' : ` (${identifyHint})`;
      return (
        `the command ${PREFIX}${spec.name} needs to know who you are, and your network does ` +
        `not vouch for you: identify with its services${how}, then try again. Until then ` +
        `only ${PREFIX}help and ${PREFIX}whoami work.`
      );
    }
    if (!atLeast(role, spec.role)) {
      const ask = spec.role === 'crew' ? `; an admin can ${PREFIX}grant it` : '';
      const needs = `needs the ${spec.role} role and you are ${role}`;
      return `the command ${PREFIX}${spec.name} ${needs}${ask}`;
    }
    return null;
  }

  private async run(match: Match, message: InboundMessage, respond: Respond): Promise<void> {
    const { spec, rest } = match;
    const { services } = this.options;
    const { identity, display } = message.sender;
    const role = identity === null ? null : services.roles.roleOf(identity);
    const reqId = randomUUID().slice(0, 8);
    const logger = this.options.logger.child({
      command: spec.name,
      identity,
      adapter: message.adapter,
      reqId,
    });

    let outcome: AuditOutcome = 'ok';
    let detail: string | null = null;
    let args: Args | null = null;
    try {
      const refused = this.refusal(spec, identity, role, message.identifyHint);
      if (refused) {
        throw new UserFacingError(refused);
      }
      args = parseArgs(spec, rest, `usage: ${PREFIX}${spec.usage}`);
      const context: CommandContext = {
        caller: { identity, role, display, identifyHint: message.identifyHint ?? null },
        args,
        services,
        origin: sealOrigin({ adapter: message.adapter, conversation: message.conversation }),
        respond,
        logger,
      };
      logger.debug({ mutating: spec.mutating, textLength: message.text.length }, 'command');
      await spec.handler(context);
    } catch (error) {
      if (error instanceof UserFacingError) {
        outcome = 'refused';
        detail = error.message;
        const lines = [error.message];
        if (error instanceof BadArgumentsError) {
          lines.push(`usage: ${PREFIX}${spec.usage}`);
        }
        await respond({ lines });
      } else {
        outcome = 'error';
        detail = `internal error, log reference ${reqId}`;
        logger.error({ err: error }, 'command failed');
        await respond({
          lines: [`something went wrong running ${PREFIX}${spec.name} (reference ${reqId})`],
        });
      }
    }
    // A refusal before the arguments were read still names what it was about.
    const target = args?.summary() || echo(rest.join(' ')) || null;
    this.record(logger, actorOf(message), `command ${spec.name}`, target, outcome, detail);
  }

  /**
   * Writes one audit row. The command already ran (or was refused) and was answered, so a
   * failed write is logged and goes no further: only the record is missing.
   */
  private record(
    logger: Logger,
    actor: string,
    action: string,
    target: string | null,
    outcome: AuditOutcome,
    detail: string | null,
  ): void {
    const { store, now } = this.options.services;
    const at = now();
    try {
      store.transaction(() => {
        store.audit.add({ at: at.toISOString(), actor, action, target, outcome, detail });
        store.events.prune(subDays(at, EVENT_MEMORY_DAYS).toISOString());
      });
    } catch (error) {
      logger.error({ err: error, outcome }, 'audit write failed');
    }
  }
}

/** Who the audit names: the identity, or the display name of someone nobody vouches for. */
function actorOf(message: InboundMessage): string {
  const { identity, display } = message.sender;
  return identity ?? `unidentified:${echo(display)}`;
}

/** `respond` with every line that starts with the prefix guarded (a line may hold several). */
function guarded(respond: Respond): Respond {
  const guard = (line: string): string => line.split('\n').map(unprefixed).join('\n');
  return (reply) => respond({ ...reply, lines: reply.lines.map(guard) });
}

function unprefixed(line: string): string {
  const trimmed = line.trimStart();
  return trimmed.startsWith(PREFIX) ? `${PREFIX_GUARD}${trimmed}` : line;
}
