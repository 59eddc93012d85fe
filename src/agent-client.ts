/**
 * The bot's side of the wire protocol: one persistent mutual-TLS connection per node, opened on
 * first use, reopened with capped exponential backoff and jitter when it drops. Every call has a
 * timeout; answers are matched to calls by id, so operations on different VEs overlap freely.
 */
import tls from 'node:tls';

import {
  AgentCode,
  ANSWER_WITHIN_MS,
  CALL_GRACE_MS,
  encodeLine,
  LineSplitter,
  type AgentCommand,
  type AgentResponse,
} from '../agent/protocol.ts';
import { AgentCallError, NodeUnreachableError, shortReason } from './agent-errors.ts';
import { backoffMs } from './backoff.ts';
import { DEFAULT_AGENT_PORT, parseAddress } from './agent-address.ts';
import { NodeHealth } from './node-health.ts';
import type { Logger } from './log.ts';

export { AgentCallError, NodeUnreachableError };
export { DEFAULT_AGENT_PORT, parseAddress };

/** The wait for a command the protocol does not list (the agent answers it at once). */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** How long a call waits: a little longer than the agent may take to answer the command. */
export function callWaitMs(command: string): number {
  const within = ANSWER_WITHIN_MS[command as AgentCommand];
  return within === undefined ? DEFAULT_CALL_TIMEOUT_MS : within + CALL_GRACE_MS;
}
const CONNECT_TIMEOUT_MS = 10_000;
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A connection that drops sooner than this counts as a failed attempt, not a success. */
const STABLE_AFTER_MS = 5_000;
/** A call never dials more often than this; in between it fails at once. */
const MIN_DIAL_INTERVAL_MS = 1_000;
const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

export interface AgentClientOptions {
  /** The node's name: the DNS name its certificate must carry. */
  name: string;
  /** host:port, [ipv6]:port or host (port 7070). */
  address: string;
  tls: { ca: string; cert: string; key: string };
  logger: Logger;
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Least time between two dials a call makes itself; MIN_DIAL_INTERVAL_MS unless a test asks. */
  minDialIntervalMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

interface Pending {
  command: string;
  resolve(returned: unknown[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class AgentClient {
  readonly name: string;
  private readonly logger: Logger;
  private readonly host: string;
  private readonly port: number;
  private socket: tls.TLSSocket | null = null;
  private connecting: Promise<tls.TLSSocket> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failures = 0;
  private lastDialAt = 0;
  private lastError = 'not connected yet';
  private lastShort = 'not connected yet';
  private readonly health: NodeHealth;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: AgentClientOptions) {
    this.name = options.name;
    this.logger = options.logger.child({ node: options.name });
    ({ host: this.host, port: this.port } = parseAddress(options.address));
    this.health = new NodeHealth(this.logger, `${this.host}:${this.port}`);
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /** Sends one command; resolves with `returned` on code 0. */
  async call(command: string, args: unknown[] = [], options: CallOptions = {}): Promise<unknown[]> {
    if (this.closed) {
      throw new NodeUnreachableError(this.name, 'the client is closed');
    }
    const socket = await this.ensureConnected();
    const id = this.nextId++;
    // callTimeoutMs (tests) may shorten the quick commands, never the ones that run vzctl long.
    const protocolMs = callWaitMs(command);
    const own = this.options.callTimeoutMs;
    const timeoutMs =
      options.timeoutMs ??
      (protocolMs > DEFAULT_CALL_TIMEOUT_MS + CALL_GRACE_MS
        ? Math.max(protocolMs, own ?? 0)
        : (own ?? protocolMs));

    return new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.logger.warn({ command, id, timeoutMs }, 'agent call timed out');
        const seconds = Math.round(timeoutMs / 1000);
        reject(
          new AgentCallError(this.name, command, AgentCode.TIMEOUT, [
            `no answer from ${this.name} within ${seconds} s; the operation may still finish`,
          ]),
        );
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { command, resolve, reject, timer });
      socket.write(encodeLine({ command: command as never, arguments: args, id }));
    });
  }

  private async ensureConnected(): Promise<tls.TLSSocket> {
    if (this.socket) {
      return this.socket;
    }
    if (!this.connecting) {
      const interval = this.options.minDialIntervalMs ?? MIN_DIAL_INTERVAL_MS;
      if (Date.now() - this.lastDialAt < interval && this.failures > 0) {
        throw new NodeUnreachableError(this.name, this.lastError, this.lastShort);
      }
      this.connecting = this.dial().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private dial(): Promise<tls.TLSSocket> {
    this.lastDialAt = Date.now();
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    const socket = tls.connect({
      host: this.host,
      port: this.port,
      ca: this.options.tls.ca,
      cert: this.options.tls.cert,
      key: this.options.tls.key,
      servername: this.name,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      // The node's name, not the dialled address, is what its certificate must prove.
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(this.name, cert),
    });

    return new Promise((resolve, reject) => {
      const fail = (reason: string, short: string): void => {
        socket.destroy();
        this.lastError = reason;
        this.lastShort = short;
        this.failures += 1;
        if (!this.closed) {
          this.health.down(short, reason);
        }
        this.scheduleRetry();
        reject(new NodeUnreachableError(this.name, reason, short));
      };
      const timer = setTimeout(
        () => fail('connect timed out', 'timed out'),
        this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      );
      timer.unref();

      socket.once('error', (error) => {
        clearTimeout(timer);
        fail(error.message, shortReason(error));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const usages = socket.getPeerX509Certificate()?.keyUsage ?? [];
        if (!usages.includes(SERVER_AUTH_OID)) {
          const why =
            'its certificate is not a server certificate (no extended key usage serverAuth)';
          fail(why, 'not a server certificate');
          return;
        }
        socket.removeAllListeners('error');
        this.adopt(socket);
        resolve(socket);
      });
    });
  }

  private adopt(socket: tls.TLSSocket): void {
    const connectedAt = Date.now();
    this.socket = socket;
    this.lastError = 'not connected';
    socket.setKeepAlive(true, 15_000);
    this.logger.debug({ address: `${this.host}:${this.port}` }, 'connected to agent');

    const splitter = new LineSplitter({
      line: (text) => this.receive(text),
      oversize: () => this.logger.warn('agent sent an oversize line; discarded'),
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    // Under TLS 1.3 the agent checks our certificate after our side has finished the
    // handshake: a refusal is a close before any answer, often with no error at all here.
    let lastShort = 'TLS handshake refused';
    let answered = false;
    socket.on('data', () => {
      answered = true;
      lastShort = 'closed by the agent';
    });
    socket.on('error', (error) => {
      this.lastError = error.message;
      lastShort = shortReason(error);
    });
    socket.on('close', () => {
      this.socket = null;
      const stable = Date.now() - connectedAt >= STABLE_AFTER_MS;
      this.failures = stable ? 0 : this.failures + 1;
      const closedBy = answered ? 'closed by the agent' : 'closed by the agent before answering';
      const why = this.lastError === 'not connected' ? closedBy : this.lastError;
      this.lastShort = lastShort;
      this.rejectAll(`connection lost: ${why}`, lastShort);
      if (this.closed) {
        return;
      }
      // A link that dies right after its handshake (the agent refusing our certificate under
      // TLS 1.3 does that) is a node that cannot be reached, not a lost connection.
      if (stable) {
        this.logger.info({ reason: lastShort }, 'connection to agent lost; reconnecting');
      } else {
        this.health.down(lastShort, why);
      }
      this.scheduleRetry();
    });
  }

  private receive(text: string): void {
    let response: AgentResponse;
    try {
      response = JSON.parse(text) as AgentResponse;
    } catch {
      this.logger.warn({ bytes: text.length }, 'agent sent a line that is not JSON');
      return;
    }
    const pending = typeof response.id === 'number' ? this.pending.get(response.id) : undefined;
    if (!pending || typeof response.id !== 'number') {
      this.logger.debug({ id: response.id, code: response.code }, 'answer with no waiting call');
      return;
    }
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    this.health.up();
    const returned = Array.isArray(response.returned) ? response.returned : [];
    if (response.code === AgentCode.OK) {
      pending.resolve(returned);
      return;
    }
    const lines = returned.map(String);
    pending.reject(new AgentCallError(this.name, pending.command, response.code, lines));
  }

  private rejectAll(reason: string, short = reason): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new NodeUnreachableError(this.name, reason, short));
      this.pending.delete(id);
    }
  }

  /** Background reconnect: exponential in the failures so far, capped, with equal jitter. */
  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) {
      return;
    }
    const initial = this.options.backoffInitialMs ?? BACKOFF_INITIAL_MS;
    const cap = this.options.backoffMaxMs ?? BACKOFF_MAX_MS;
    const waitMs = backoffMs(this.failures, initial, cap);
    this.logger.debug({ attempt: this.failures, waitMs }, 'agent reconnect scheduled');

    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.socket && !this.connecting && !this.closed) {
        this.connecting = this.dial().finally(() => {
          this.connecting = null;
        });
        this.connecting.catch(() => undefined);
      }
    }, waitMs);
    this.retryTimer.unref();
  }

  /** Closes the connection; calls still waiting are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.rejectAll('the client was closed');
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 1000).unref();
      });
    }
  }
}
