/**
 * The node pool: one AgentClient (one persistent mTLS link) per configured node, plus the two
 * questions the workflow asks of the whole pool: which nodes answer, and what went wrong.
 */
import { AgentCode, describeCode, type AgentCommand } from '../agent/protocol.ts';
import { AgentCallError, AgentClient, NodeUnreachableError } from './agent-client.ts';
import type { NodeConfig } from './config.ts';
import { BadArgumentsError, UserFacingError } from './errors.ts';
import type { Logger } from './log.ts';

/** What the pool needs of a client; AgentClient is the real one. */
export interface NodeClient {
  call(
    command: AgentCommand,
    args: unknown[],
    options?: { timeoutMs?: number },
  ): Promise<unknown[]>;
  close(): Promise<void> | void;
}

/** PEM text (not paths) of the CA, the bot's certificate and its key. */
export interface TlsPem {
  ca: string;
  cert: string;
  key: string;
}

/** How students reach a node's VEs: `ssh USER@SSHHOST`, and http://USER.WEBDOMAIN/ if set. */
export interface NodeLogin {
  sshHost: string;
  webDomain: string | null;
}

/** A ping that takes longer than this counts the node as unreachable for choosing a node. */
const PING_TIMEOUT_MS = 3000;

export class NodePool {
  private readonly clients = new Map<string, NodeClient>();
  private readonly logins = new Map<string, NodeLogin>();

  constructor(
    nodes: readonly { name: string; client: NodeClient; login?: Partial<NodeLogin> }[],
  ) {
    for (const node of nodes) {
      this.clients.set(node.name, node.client);
      this.logins.set(node.name, {
        sshHost: node.login?.sshHost ?? node.name,
        webDomain: node.login?.webDomain ?? null,
      });
    }
  }

  static connect(
    nodes: readonly NodeConfig[],
    tls: TlsPem,
    logger: Logger,
    callTimeoutMs?: number,
  ): NodePool {
    return new NodePool(
      nodes.map(({ name, address, sshHost, webDomain }) => ({
        name,
        login: { sshHost: sshHost ?? name, webDomain: webDomain ?? null },
        client: new AgentClient({
          name,
          address,
          tls,
          // The client binds `node` itself; binding it here too printed the key twice.
          logger,
          ...(callTimeoutMs === undefined ? {} : { callTimeoutMs }),
        }),
      })),
    );
  }

  names(): string[] {
    return [...this.clients.keys()];
  }

  has(name: string): boolean {
    return this.clients.has(name);
  }

  /** The node's public names for students; its own name when the config gives none. */
  loginFor(name: string): NodeLogin {
    return this.logins.get(name) ?? { sshHost: name, webDomain: null };
  }

  async call(
    node: string,
    command: AgentCommand,
    args: unknown[],
    options?: { timeoutMs?: number },
  ): Promise<unknown[]> {
    const client = this.clients.get(node);
    if (!client) {
      throw new UserFacingError(`node ${node} is not in the config any more; ask an admin`);
    }
    return options === undefined ? client.call(command, args) : client.call(command, args, options);
  }

  /** The nodes that answer a ping now, in config order. */
  async reachable(): Promise<string[]> {
    const names = this.names();
    const answers = await Promise.all(
      names.map(async (name) => {
        try {
          await this.clients.get(name)?.call('ping', [], { timeoutMs: PING_TIMEOUT_MS });
          return true;
        } catch {
          return false;
        }
      }),
    );
    return names.filter((_, index) => answers[index]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map(async (client) => client.close()));
  }
}

export function isUnreachable(error: unknown): error is NodeUnreachableError {
  return error instanceof NodeUnreachableError;
}

export function isAgentFailure(error: unknown): error is AgentCallError {
  return error instanceof AgentCallError;
}

/**
 * Agent codes that mean a bug in the bot or the agent, or a version mismatch between them, not
 * something the person in chat can act on: their lines (`cannot run /usr/sbin/vzctl: spawn
 * ENOENT`) are for the log, never for chat.
 */
const BUG_CODES: readonly number[] = [
  AgentCode.MALFORMED_JSON,
  AgentCode.UNKNOWN_COMMAND,
  AgentCode.REQUEST_TOO_LARGE,
  AgentCode.INTERNAL,
];

/** True for an agent answer that only a programmer or the node's admin can act on. */
export function isAgentBug(error: unknown): error is AgentCallError {
  return isAgentFailure(error) && BUG_CODES.includes(error.code);
}

/** A few words on why a node did not answer, for `!nodes` and replies. */
export function whyUnreachable(error: unknown): string {
  if (isUnreachable(error)) {
    return error.short;
  }
  if (isAgentFailure(error)) {
    return describeCode(error.code);
  }
  return 'no answer';
}

/**
 * What an agent said, in words: the code explained, then the program's own lines (left out for
 * a bug code: those carry internals, and the caller logs the error).
 */
export function agentReason(error: AgentCallError): string {
  const said = BUG_CODES.includes(error.code) ? [] : error.lines;
  const lines = said.filter((line) => line.trim() !== '');
  const words = lines.length > 0 ? `: ${lines.join('; ')}` : '';
  return `${describeCode(error.code)} (code ${error.code})${words}`;
}

/**
 * Turns what a node call threw into words for chat. `subject` names what was being done
 * (`VE 101`); `changing` says whether the call would have changed it (so the reply may say it
 * was not). Arguments the agent refused come back as a BadArgumentsError, so the dispatcher adds
 * the chat command's usage line rather than the agent's. Anything that is neither an agent
 * answer nor an unreachable node, and an agent answer with a bug code, is passed on untouched:
 * the dispatcher logs it with a reference and gives a generic reply.
 */
export function explainNodeError(
  error: unknown,
  node: string,
  subject: string,
  changing = true,
): unknown {
  if (isUnreachable(error)) {
    const outcome = changing ? `${subject} was not changed` : `cannot read ${subject} now`;
    return new UserFacingError(
      `node ${node} unreachable (${error.short}); ${outcome}, try again later`,
      { cause: error },
    );
  }
  if (isAgentBug(error)) {
    return error;
  }
  if (isAgentFailure(error) && error.code === AgentCode.INVALID_ARGUMENTS) {
    const reason = error.lines.find((line) => line.trim() !== '' && !line.startsWith('usage:'));
    return new BadArgumentsError(`${node} refused that for ${subject}: ${reason ?? 'bad value'}`, {
      cause: error,
    });
  }
  if (isAgentFailure(error)) {
    return new UserFacingError(`${subject} on ${node}: ${agentReason(error)}`, { cause: error });
  }
  return error;
}
