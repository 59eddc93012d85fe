/**
 * A real agent in a child process, ready when it says so: the agent binds port 0 and the
 * test reads the port from its `agent listening` log line, so no test races another process
 * for a port it was told was free. A child that does not get ready in time is killed before
 * the error is thrown, and every child is killed (SIGKILL after a grace period) on stop().
 *
 *   const agent = await startAgentProcess({ dir, config, args: (file) => [CLI, 'agent',
 *     '--config', file] });                      // { port, stop(), start(), cleanup() }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';

const TSX = import.meta.resolve('tsx');
const READY_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export interface AgentProcessOptions {
  /** A folder this helper writes agent.yaml into; cleanup() removes it. */
  dir: string;
  /** The agent's config; `listen` and `logLevel` are set here. */
  config: Record<string, unknown>;
  /** Node's arguments after `--import tsx`, given the config file. */
  args: (configFile: string) => string[];
  readyMs?: number;
}

export interface AgentProcess {
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port and state, after stop(). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startAgentProcess(options: AgentProcessOptions): Promise<AgentProcess> {
  const configFile = path.join(options.dir, 'agent.yaml');
  let child: ChildProcess | null = null;
  let port = 0;

  const start = async (): Promise<void> => {
    // Port 0 the first time; the port it got afterwards, so that a restart is the same node.
    await writeFile(configFile, stringify({
      ...options.config,
      listen: `127.0.0.1:${port}`,
      // The port is in an info line; stdout is a pipe here, so nothing reaches the terminal.
      logLevel: 'info',
    }));
    const spawned = spawn(process.execPath, ['--import', TSX, ...options.args(configFile)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = spawned;
    try {
      port = await listeningPort(spawned, options.readyMs ?? READY_MS);
    } catch (error) {
      child = null;
      await stopProcess(spawned);
      throw error;
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = null;
    if (running) await stopProcess(running);
  };
  await start();
  return {
    get port() {
      return port;
    },
    stop,
    start,
    async cleanup() {
      await stop();
      await rm(options.dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the port from the child's `agent listening` line; stdout is drained after. */
function listeningPort(child: ChildProcess, readyMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    let settled = false;
    const finish = (error: Error | null, port = 0): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(port);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish(new Error(`test agent exited before listening (code ${code}, signal ${signal})`));
    };
    const timer = setTimeout(() => {
      finish(new Error(`test agent did not listen within ${readyMs} ms`));
    }, readyMs);
    child.once('exit', onExit);

    // Keep reading after the match: a full pipe would block the agent's logging.
    lines.on('line', (line) => {
      if (settled || !line.includes('agent listening')) return;
      const port = Number(/"port":(\d+)/.exec(line)?.[1] ?? 0);
      finish(port > 0 ? null : new Error(`no port in the agent's line: ${line}`), port);
    });
  });
}

/** SIGTERM, then SIGKILL if the child is still there after the grace period. */
export async function stopProcess(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
