/**
 * The shape every command module exports: a declaration as data plus a handler. Help, the role
 * check and argument parsing all come from the declaration; the handler gets a context with the
 * caller, its parsed arguments, the services it needs and `respond`, never the adapter.
 */
import type { Reply } from '../adapters/types.ts';
import type { Logger } from '../src/log.ts';
import type { Role } from '../src/roles.ts';
import type { OpaqueOrigin } from '../src/origin.ts';
import type { Services } from '../src/services.ts';

export type ArgType = 'int' | 'word' | 'rest';

export interface ArgSpec {
  name: string;
  type: ArgType;
  optional?: boolean;
  /** For `int`: the smallest and largest value taken (default 0 and no limit). */
  min?: number;
  max?: number;
  /** Kept out of the audit row (shown as `<NAME>`): a pasted key is nobody's business there. */
  unaudited?: boolean;
}

/** `anyone` includes people nobody vouches for (identity null): only !help and !whoami. */
export type CommandRole = Role | 'anyone';

export interface Caller {
  identity: string | null;
  /** null exactly when identity is null. */
  role: Role | null;
  display: string;
  /** How to get an identity on the caller's network, in its words (null: it says nothing). */
  identifyHint: string | null;
}

export interface CommandContext {
  caller: Caller;
  args: Args;
  services: Services;
  /** Where the command was said, to pass on: stored with a request to announce its outcome. */
  origin: OpaqueOrigin;
  respond: (reply: Reply) => Promise<void>;
  logger: Logger;
}

export interface CommandSpec {
  /** One or more words: `approve`, `ve create`. */
  name: string;
  aliases?: string[];
  /** Without the leading `!`; the dispatcher adds it. */
  usage: string;
  summary: string;
  role: CommandRole;
  args: ArgSpec[];
  /** True when the command changes anything (requests, VEs, roles). */
  mutating: boolean;
  handler(context: CommandContext): Promise<void>;
}

/** Parsed arguments by name; the dispatcher has already checked types and presence. */
export class Args {
  constructor(
    private readonly values: ReadonlyMap<string, string | number>,
    private readonly unaudited: ReadonlySet<string> = new Set(),
  ) {}

  int(name: string): number {
    const value = this.values.get(name);
    if (typeof value !== 'number') {
      throw new Error(`argument ${name} is not a parsed integer`);
    }
    return value;
  }

  text(name: string): string {
    const value = this.values.get(name);
    if (typeof value !== 'string') {
      throw new Error(`argument ${name} is not a parsed word`);
    }
    return value;
  }

  optionalText(name: string): string | undefined {
    const value = this.values.get(name);
    return value === undefined ? undefined : String(value);
  }

  optionalInt(name: string): number | undefined {
    const value = this.values.get(name);
    return typeof value === 'number' ? value : undefined;
  }

  /** Every value, for the audit row. */
  summary(): string {
    return [...this.values]
      .map(([name, value]) => (this.unaudited.has(name) ? `<${name}>` : String(value)))
      .join(' ');
  }
}

export function define(spec: CommandSpec): CommandSpec {
  return spec;
}
