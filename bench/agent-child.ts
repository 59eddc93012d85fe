/**
 * The agent as a node runs it: `crewvz agent --config FILE` (src/bin.mjs, the installed
 * command) in a child process with the sim driver and its default load, on 127.0.0.1 with a
 * PKI made by the same code as `crewvz pki init` and `crewvz pki issue-agent`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

import { initPki, issueAgentCert, loadTlsMaterial, type TlsMaterial } from '../src/pki.ts';

const BIN = fileURLToPath(new URL('../src/bin.mjs', import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
export const NODE_NAME = 'node1';

export interface BenchPki {
  dir: string;
  /** The bot's side: CA, bot certificate and key. */
  bot: TlsMaterial;
}

export async function makeBenchPki(root: string): Promise<BenchPki> {
  const dir = path.join(root, 'pki');
  await initPki(dir);
  await issueAgentCert(dir, NODE_NAME, { ips: ['127.0.0.1'] });
  return { dir, bot: await loadTlsMaterial(dir, 'bot') };
}

export interface AgentChild {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** Starts the agent and waits for its `agent listening` log line, which carries the port. */
export async function startAgentChild(root: string, pki: BenchPki): Promise<AgentChild> {
  const configFile = path.join(root, 'agent.yaml');
  const logFile = path.join(root, 'agent.log');
  await writeFile(
    configFile,
    stringify({
      name: NODE_NAME,
      listen: '127.0.0.1:0',
      pki: pki.dir,
      driver: 'sim',
      stateDir: path.join(root, 'agent-state'),
      templates: path.join(root, 'agent-templates'),
    }),
  );

  // Logs go to a file as they would to journald: one JSON line per request, at info.
  const log = await open(logFile, 'w');
  const child = spawn(process.execPath, [BIN, 'agent', '--config', configFile], {
    stdio: ['ignore', log.fd, 'pipe'],
  });
  await log.close();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });

  try {
    const port = await waitForPort(child, logFile, () => stderr);
    return { pid: child.pid as number, port, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

async function waitForPort(
  child: ChildProcess,
  logFile: string,
  stderr: () => string,
): Promise<number> {
  const deadline = Date.now() + START_TIMEOUT_MS;

  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`the agent exited with ${child.exitCode} at start: ${stderr().trim()}`);
    }
    const text = await readFile(logFile, 'utf8');
    const match = /"port":(\d+)[^\n]*"msg":"agent listening"/.exec(text);
    if (match) {
      return Number(match[1]);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the agent did not listen within ${START_TIMEOUT_MS} ms; see ${logFile}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
