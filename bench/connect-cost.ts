/**
 * What the persistent link saves. The same `status ID` two older ways: a new AgentClient (TCP +
 * TLS handshake with client certificates both ways) for every call, and a new process for
 * every call, the way `ssh host sudo vzctl status ID` costs a process per command (here without
 * the network and without ssh's own handshake, so the real old way costs more than this).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { NODE_NAME, type BenchPki } from './agent-child.ts';
import type { Figure } from './report.ts';
import { percentiles, timeEach } from './stats.ts';

const SECTION = 'per-call cost';
const TLS_WARMUP = 10;
const TLS_CALLS = 200;
const PROCESS_CALLS = 30;

/**
 * Plain Node, no TypeScript loader: the cheapest process that can ask the agent anything. It
 * checks the agent's name as AgentClient does, and exits 0 only on an answer with code 0.
 */
const ONE_SHOT_CLIENT = `
const fs = require('node:fs');
const tls = require('node:tls');
const [port, dir, name, ve] = process.argv.slice(1);
const read = (file) => fs.readFileSync(require('node:path').join(dir, file));
const socket = tls.connect({
  host: '127.0.0.1', port: Number(port), servername: name, minVersion: 'TLSv1.2',
  ca: read('ca.crt'), cert: read('bot.crt'), key: read('bot.key'),
  checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
});
let text = '';
socket.on('secureConnect', () => {
  socket.write(JSON.stringify({ command: 'status', arguments: [Number(ve)], id: 1 }) + '\\n');
});
socket.on('data', (chunk) => {
  text += chunk;
  if (text.includes('\\n')) {
    process.exitCode = JSON.parse(text.slice(0, text.indexOf('\\n'))).code === 0 ? 0 : 1;
    socket.end();
  }
});
socket.on('error', (error) => { process.stderr.write(error.message + '\\n'); process.exit(2); });
`;

export interface ConnectCostInput {
  port: number;
  pki: BenchPki;
  ve: number;
  /** The persistent link's median `status`, the yardstick for both ratios. */
  persistentP50Ms: number;
}

export async function measureConnectCost(input: ConnectCostInput): Promise<Figure[]> {
  const newClientCall = async (): Promise<void> => {
    const client = new AgentClient({
      name: NODE_NAME,
      address: `127.0.0.1:${input.port}`,
      tls: input.pki.bot,
      logger: silentLogger(),
    });
    try {
      await client.call('status', [input.ve]);
    } finally {
      await client.close();
    }
  };
  await timeEach(TLS_WARMUP, newClientCall);
  const tls = percentiles(await timeEach(TLS_CALLS, newClientCall));

  const oneShot = (): Promise<void> => runOneShot(input.port, input.pki.dir, input.ve);
  const processes = percentiles(await timeEach(PROCESS_CALLS, oneShot));

  const figure = (key: string, label: string, value: number, unit = 'ms'): Figure => ({
    key, section: SECTION, label, value, unit,
  });
  return [
    figure('perCall.tls.p50', `status, new TLS link per call, p50 (${TLS_CALLS})`, tls.p50),
    figure('perCall.tls.p95', `status, new TLS link per call, p95`, tls.p95),
    figure('perCall.tls.ratio', 'new TLS link / persistent link (p50)',
      tls.p50 / input.persistentP50Ms, '×'),
    figure('perCall.process.p50', `status, new process per call, p50 (${PROCESS_CALLS})`,
      processes.p50),
    figure('perCall.process.ratio', 'new process / persistent link (p50)',
      processes.p50 / input.persistentP50Ms, '×'),
  ];
}

async function runOneShot(port: number, pkiDir: string, ve: number): Promise<void> {
  const argv = ['-e', ONE_SHOT_CLIENT, String(port), path.resolve(pkiDir), NODE_NAME, String(ve)];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });

  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    throw new Error(`the one-shot client exited with ${code}: ${stderr.trim()}`);
  }
}
