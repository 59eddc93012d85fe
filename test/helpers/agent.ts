/**
 * An in-process agent on 127.0.0.1 with the sim driver, and a raw TLS line client for poking it
 * with bytes the real client would never send.
 *
 *   const agent = await startTestAgent();          // { port, stateDir, driver, stop() }
 *   const raw = await rawConnect(agent.port);        // bot certificate by default
 *   raw.send('{"command":"ping","id":1}\n'); const answer = await raw.next();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { buildConfig } from '../../agent/config.ts';
import type { Driver } from '../../agent/driver.ts';
import type { CommandHandler } from '../../agent/handlers.ts';
import { silentAgentLogger, type Logger } from '../../agent/log.ts';
import { startAgent, type RunningAgent, type StartOptions } from '../../agent/main.ts';
import { LineSplitter, type AgentResponse } from '../../agent/protocol.ts';
import { createSimDriver } from '../../agent/sim.ts';
import { makeTestPki } from './pki.ts';

export interface TestAgent {
  port: number;
  stateDir: string;
  driver: Driver;
  running: RunningAgent;
  stop(): Promise<void>;
}

export interface TestAgentOptions {
  /** Wraps the sim driver, e.g. to hold an operation open. */
  wrap?: (driver: Driver) => Driver;
  handlers?: Record<string, CommandHandler>;
  operationTimeoutMs?: number;
  port?: number;
  stateDir?: string;
  extraConfig?: Record<string, unknown>;
  /** Where the agent logs; silent unless a test looks at the log. */
  logger?: Logger;
  server?: StartOptions['server'];
}

export async function startTestAgent(options: TestAgentOptions = {}): Promise<TestAgent> {
  const pki = await makeTestPki();
  const ownDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'crewvz-agent-')));
  const { config } = buildConfig(
    {
      name: 'node1',
      listen: `127.0.0.1:${options.port ?? 0}`,
      pki: pki.dir,
      driver: 'sim',
      stateDir,
      ...options.extraConfig,
    },
    stateDir,
  );
  const logger = options.logger ?? silentAgentLogger();
  const sim = await createSimDriver({
    stateDir,
    templatesDir: config.templates,
    loadIntervalMs: 0,
    logger,
  });
  const driver = options.wrap ? options.wrap(sim) : sim;
  const running = await startAgent(config, {
    logger,
    driver,
    ...(options.handlers ? { handlers: options.handlers } : {}),
    ...(options.operationTimeoutMs ? { operationTimeoutMs: options.operationTimeoutMs } : {}),
    ...(options.server ? { server: options.server } : {}),
  });
  return {
    port: running.address.port,
    stateDir,
    driver,
    running,
    async stop() {
      await running.stop();
      if (ownDir) {
        await rm(stateDir, { recursive: true, force: true });
      }
    },
  };
}

export interface RawConnection {
  socket: tls.TLSSocket;
  send(data: string | Buffer): void;
  request(command: string, args?: unknown[], id?: number | string): Promise<AgentResponse>;
  /** The next answer in arrival order, not counting answers that request() waits for. */
  next(timeoutMs?: number): Promise<AgentResponse>;
  /** Resolves when the agent closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export interface RawOptions {
  cert?: string;
  key?: string;
  ca?: string;
  servername?: string;
  maxVersion?: tls.SecureVersion;
}

export async function rawConnect(port: number, options: RawOptions = {}): Promise<RawConnection> {
  const pki = await makeTestPki();
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: options.ca ?? pki.ca,
    cert: options.cert ?? pki.bot.cert,
    key: options.key ?? pki.bot.key,
    servername: options.servername ?? 'node1',
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  });
  const queue: AgentResponse[] = [];
  const waiters: Array<(answer: AgentResponse) => void> = [];
  const byId = new Map<unknown, (answer: AgentResponse) => void>();
  const splitter = new LineSplitter({
    line: (text) => {
      const answer = JSON.parse(text) as AgentResponse;
      const claimed = byId.get(answer.id);
      if (claimed) {
        byId.delete(answer.id);
        claimed(answer);
        return;
      }
      const waiter = waiters.shift();
      if (waiter) {
        waiter(answer);
      } else {
        queue.push(answer);
      }
    },
    oversize: () => undefined,
  });
  socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });

  let serial = 0;
  const next = (timeoutMs = 5000): Promise<AgentResponse> => {
    const queued = queue.shift();
    if (queued) {
      return Promise.resolve(queued);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the agent')), timeoutMs);
      waiters.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  };
  return {
    socket,
    closed,
    send: (data) => socket.write(data),
    next,
    request(command, args = [], id = `r${++serial}`) {
      const answer = new Promise<AgentResponse>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${command}`)), 5000);
        byId.set(id, (found) => {
          clearTimeout(timer);
          resolve(found);
        });
      });
      socket.write(`${JSON.stringify({ command, arguments: args, id })}\n`);
      return answer;
    },
    close: () => socket.destroy(),
  };
}
