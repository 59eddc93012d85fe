/**
 * The demo's node: a `crewvz agent` child process with the simulated driver on a loopback port,
 * its certificate from a PKI made on first run, its log lines appended to the demo's log file.
 * Readiness is a real mutual-TLS ping, so the agent never sees a bare TCP probe (which it would
 * rightly log as a refused handshake).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

import { AgentClient } from './agent-client.ts';
import { silentLogger } from './log.ts';
import { initPki, issueAgentCert, loadTlsMaterial } from './pki.ts';

export const DEMO_NODE = 'node1';
const AGENT_READY_MS = 20_000;
const AGENT_STOP_MS = 5_000;
const READY_POLL_MS = 100;
const READY_PING_MS = 2_000;
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

/** A port the kernel says is free now; the agent binds it a moment later. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function ensurePki(dir: string): Promise<void> {
  if (!existsSync(path.join(dir, 'ca.crt'))) {
    await initPki(dir);
  }
  if (!existsSync(path.join(dir, `${DEMO_NODE}.crt`))) {
    await issueAgentCert(dir, DEMO_NODE, { ips: ['127.0.0.1'] });
  }
}

/** Starts `crewvz agent` as a child whose output goes to the log file; resolves once it answers. */
export async function startDemoAgent(
  dataDir: string,
  port: number,
  logFile: string,
): Promise<ChildProcess> {
  const configFile = path.join(dataDir, 'agent.yaml');
  const agentConfig = {
    name: DEMO_NODE,
    listen: `127.0.0.1:${port}`,
    pki: path.join(dataDir, 'pki'),
    driver: 'sim',
    stateDir: path.join(dataDir, 'sim'),
    templates: path.join(dataDir, 'templates'),
    logLevel: 'info',
  };
  await writeFile(configFile, stringify(agentConfig));

  const log = openSync(logFile, 'a');
  const tsx = import.meta.resolve('tsx');
  const child = spawn(
    process.execPath,
    ['--import', tsx, CLI, 'agent', '--config', configFile],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  try {
    await waitForAnswer(child, dataDir, port, logFile);
  } catch (error) {
    await stopDemoAgent(child);
    throw error;
  }
  return child;
}

/** Pings the agent over mutual TLS until it answers; rejects if it exits or takes too long. */
async function waitForAnswer(
  child: ChildProcess,
  dataDir: string,
  port: number,
  logFile: string,
): Promise<void> {
  const tls = await loadTlsMaterial(path.join(dataDir, 'pki'), 'bot');
  const deadline = Date.now() + AGENT_READY_MS;
  let lastError: unknown = null;

  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`the demo agent exited with status ${child.exitCode}; see ${logFile}`);
    }
    // A fresh client each time: one that failed waits out its backoff before dialling again.
    const client = new AgentClient({
      name: DEMO_NODE,
      address: `127.0.0.1:${port}`,
      tls,
      logger: silentLogger(),
    });
    try {
      await client.call('ping', [], { timeoutMs: READY_PING_MS });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    } finally {
      await client.close();
    }
  }
  const seconds = AGENT_READY_MS / 1000;
  const last = lastError instanceof Error ? ` (last ping: ${lastError.message})` : '';
  throw new Error(`the demo agent did not answer within ${seconds} s${last}; see ${logFile}`);
}

export async function stopDemoAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), AGENT_STOP_MS);
  await exited;
  clearTimeout(timer);
}
