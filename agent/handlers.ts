/**
 * Turns one request line into one answer: parse, find the command, validate its arguments, take
 * the VE's lock, run it on the driver, map failures to codes, log one line. The command table
 * is open: provisioning registers `update` and may replace `create` (see registerHandler).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

import type { CreateJournal } from './create-journal.ts';
import { DriverError, type Driver } from './driver.ts';
import { VeLocks } from './lock.ts';
import {
  AGENT_COMMANDS,
  ANSWER_WITHIN_MS,
  AgentCode,
  type AgentCommand,
  type AgentResponse,
  type RequestId,
} from './protocol.ts';
import { PRINTABLE_ASCII, RequestError, parseRequest, type ParsedRequest } from './request.ts';
import { ValidationError } from './validate.ts';

/** What the agent's config says that commands need beyond the driver. */
export interface AgentSettings {
  name: string;
  /** When set, a new VE's hostname is USERNAME.DOMAIN. */
  domain: string | null;
  /** Beancounter defaults saved with every new VE: resource → `barrier[:limit]`. */
  limits: Record<string, string>;
}

export interface HandlerContext {
  driver: Driver;
  settings: AgentSettings;
  logger: Logger;
}

/**
 * One command. `parse` checks and converts the arguments (throwing ValidationError) before any
 * lock is taken or program run; `ve` names the VE the request is about, for the log and, when
 * `exclusive`, for the per-VE lock.
 */
export interface CommandHandler<P = unknown> {
  usage: string;
  exclusive: boolean;
  parse(args: unknown[], context: HandlerContext): P | Promise<P>;
  ve?(parsed: P): number | null;
  run(parsed: P, context: HandlerContext): Promise<unknown[]>;
  /** Overrides the dispatcher's operation timeout for this command. */
  timeoutMs?: number;
  /**
   * Marked in the create journal while it runs, so that an agent killed in the middle undoes
   * it at its next start (create-recovery.ts).
   */
  journaled?: boolean;
}

/** Erases a handler's parsed type so handlers of different shapes fit in one table. */
export function defineHandler<P>(handler: CommandHandler<P>): CommandHandler {
  return handler as unknown as CommandHandler;
}

export interface DispatcherOptions {
  driver: Driver;
  settings: AgentSettings;
  logger: Logger;
  handlers: Record<string, CommandHandler>;
  /**
   * After this long a request is answered TIMEOUT; the VE stays locked until the driver ends.
   * Unset, each command gets its own limit from ANSWER_WITHIN_MS in the wire protocol.
   */
  operationTimeoutMs?: number;
  /** Where journaled commands (create) mark what is in flight; none, no marks. */
  journal?: CreateJournal;
}

/** For a handler registered under a name the wire protocol does not list. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 300_000;

/** The bot waits ANSWER_WITHIN_MS plus a grace for each command, so the agent answers first. */
export function answerLimitMs(command: string): number {
  const known = (AGENT_COMMANDS as readonly string[]).includes(command);
  return known ? ANSWER_WITHIN_MS[command as AgentCommand] : DEFAULT_OPERATION_TIMEOUT_MS;
}

/** What a failure is logged with: the request's command and VE, and the connection's logger. */
interface FailureSite {
  command: string | undefined;
  ve: number | null;
  logger: Logger;
}

/** The journal's mark for `ve` around `work`: kept only when the agent dies before it ends. */
async function journaled(
  journal: CreateJournal,
  ve: number,
  work: () => Promise<unknown[]>,
): Promise<unknown[]> {
  await journal.begin(ve);
  try {
    return await work();
  } finally {
    await journal.end(ve);
  }
}

function answer(code: number, returned: unknown[], id: RequestId | null): AgentResponse {
  return { code, returned, id };
}

export class Dispatcher {
  private readonly handlers = new Map<string, CommandHandler>();
  private readonly locks = new VeLocks();
  /** VEs no command may touch, by any command, with the reason given to the asker. */
  private readonly blocked = new Map<number, string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly context: HandlerContext;
  private readonly timeoutMs: number | null;

  constructor(private readonly options: DispatcherOptions) {
    this.context = { driver: options.driver, settings: options.settings, logger: options.logger };
    this.timeoutMs = options.operationTimeoutMs ?? null;
    for (const [name, handler] of Object.entries(options.handlers)) {
      this.registerHandler(name, handler);
    }
  }

  /** Refuses every command on `ve` with VE_BUSY and `reason` until unblock(ve). */
  block(ve: number, reason: string): void {
    this.blocked.set(ve, reason);
  }

  unblock(ve: number): void {
    this.blocked.delete(ve);
  }

  /**
   * Runs the registered `remove` on `ve` outside the request path and its per-VE lock: for a
   * VE under block(), which keeps every request off it meanwhile.
   */
  async removeDirectly(ve: number): Promise<void> {
    const remove = this.handlers.get('remove');
    if (!remove) {
      throw new Error('no remove command registered');
    }
    await remove.run(await remove.parse([ve], this.context), this.context);
  }

  /** Adds a command or replaces one (provisioning replaces `create` and adds `update`). */
  registerHandler(name: string, handler: CommandHandler): void {
    this.handlers.set(name, handler);
  }

  commands(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /** The answer for a line that was too long; nothing of it was read. */
  oversize(logger: Logger = this.options.logger): AgentResponse {
    logger.warn({ code: AgentCode.REQUEST_TOO_LARGE }, 'request line too large, discarded');
    return answer(
      AgentCode.REQUEST_TOO_LARGE,
      ['the request line is longer than 65536 bytes; nothing of it was run'],
      null,
    );
  }

  /** Answers one line. Never throws: every failure becomes a coded answer. */
  async handleLine(text: string, logger: Logger = this.options.logger): Promise<AgentResponse> {
    const started = performance.now();
    let command: string | undefined;
    let ve: number | null = null;
    let id: RequestId | null = null;
    let response: AgentResponse;

    try {
      const request = parseRequest(text);
      id = request.id;
      command = request.command;
      const result = await this.execute(request, (target) => {
        ve = target;
      });
      response = answer(AgentCode.OK, result, id);
    } catch (error) {
      response = this.failure(error, id, { command, ve, logger });
    }

    const durationMs = Math.round(performance.now() - started);
    const known = command !== undefined && this.handlers.has(command);
    logger.info(
      { command: known ? command : undefined, ve, code: response.code, durationMs, id },
      'request',
    );
    return response;
  }

  private async execute(
    request: ParsedRequest,
    noteVe: (ve: number | null) => void,
  ): Promise<unknown[]> {
    const handler = this.handlers.get(request.command);
    if (!handler) {
      throw new RequestError(AgentCode.UNKNOWN_COMMAND, this.unknownCommandText(request.command));
    }

    const parsed = await handler.parse(request.args, this.context);
    const ve = handler.ve?.(parsed) ?? null;
    noteVe(ve);
    const blocked = ve === null ? undefined : this.blocked.get(ve);
    if (blocked !== undefined) {
      throw new DriverError(AgentCode.VE_BUSY, [`VE ${ve} is busy: ${blocked}; try again shortly`]);
    }

    if (!handler.exclusive || ve === null) {
      return this.withTimeout(request.command, ve, handler, handler.run(parsed, this.context));
    }
    if (!this.locks.tryAcquire(ve, request.command)) {
      const holder = this.locks.holder(ve) ?? 'another operation';
      throw new DriverError(AgentCode.VE_BUSY, [
        `VE ${ve} is busy with ${holder}; try again when it has finished`,
      ]);
    }
    const operation = handler.journaled && this.options.journal
      ? journaled(this.options.journal, ve, () => handler.run(parsed, this.context))
      : handler.run(parsed, this.context);
    // The lock outlives a timed-out answer: it is released only when the driver is done.
    void operation.then(
      () => this.locks.release(ve),
      () => this.locks.release(ve),
    );
    return this.withTimeout(request.command, ve, handler, operation);
  }

  private withTimeout(
    command: string,
    ve: number | null,
    handler: CommandHandler,
    operation: Promise<unknown[]>,
  ): Promise<unknown[]> {
    const limitMs = handler.timeoutMs ?? this.timeoutMs ?? answerLimitMs(command);
    const tracked = operation.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));

    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const what = ve === null ? command : `${command} on VE ${ve}`;
        const busy = ve === null ? '' : `; VE ${ve} stays busy until it ends`;
        reject(
          new DriverError(AgentCode.TIMEOUT, [
            `${what} did not finish within ${Math.round(limitMs / 1000)} s; it goes on in the ` +
              `background${busy}`,
          ]),
        );
      }, limitMs);
      timer.unref();
      operation.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private unknownCommandText(command: string): string {
    const shown =
      command.length <= 32 && PRINTABLE_ASCII.test(command) ? `'${command}'` : 'that command';
    if (command === 'update') {
      return 'update is not available on this agent';
    }
    if (command === 'authorize') {
      return 'authorize is not available on this agent: it provisions no VEs (no network.pool)';
    }
    return `unknown command ${shown}; this agent knows ${this.commands().join(', ')}`;
  }

  private failure(
    error: unknown,
    id: RequestId | null,
    where: FailureSite,
  ): AgentResponse {
    if (error instanceof RequestError) {
      return answer(error.code, [error.message], error.id ?? id);
    }
    if (error instanceof ValidationError) {
      const usage = where.command ? this.handlers.get(where.command)?.usage : undefined;
      const lines = usage ? [error.message, `usage: ${usage}`] : [error.message];
      return answer(AgentCode.INVALID_ARGUMENTS, lines, id);
    }
    if (error instanceof DriverError && error.code !== AgentCode.INTERNAL) {
      return answer(error.code, error.lines.map(String), id);
    }
    return this.internalFailure(error, id, where);
  }

  /**
   * A 1007: a broken node or a bug. Its details (paths, errno, what a program printed) go to
   * the log at error level under a fresh reference; the answer names only that reference.
   */
  private internalFailure(
    error: unknown,
    id: RequestId | null,
    where: FailureSite,
  ): AgentResponse {
    const ref = randomUUID().slice(0, 8);
    const details =
      error instanceof DriverError ? { lines: error.lines.map(String) } : { err: error };
    where.logger.error(
      { ref, command: where.command, ve: where.ve, id, ...details },
      'internal error while handling a request',
    );
    return answer(
      AgentCode.INTERNAL,
      [`internal agent error (reference ${ref}); the agent's log has the details`],
      id,
    );
  }

  /** Resolves when every operation started so far has ended (used on shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
    }
  }
}
