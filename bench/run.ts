/**
 * `npm run bench`: the speed and memory figures crewvz promises, each against a target, on
 * 127.0.0.1 only. Prints one table and exits 1 when any target is missed. docs/benchmarks.md
 * says how to read it and what this machine measured.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { makeBenchPki, NODE_NAME, startAgentChild } from './agent-child.ts';
import { measureLink } from './agent-latency.ts';
import { agentRss, agentRssWithLinks } from './agent-memory.ts';
import { measureConnectCost } from './connect-cost.ts';
import { measureDispatcher } from './dispatcher.ts';
import { measureParse } from './parse.ts';
import { judge, renderTable, type Figure, type Target } from './report.ts';
import { nowMs } from './stats.ts';
import { measureWatcher } from './watcher.ts';

/**
 * The promises, for a 2-core machine, each about 2-3× what such a machine measured when quiet
 * (docs/benchmarks.md), so that a miss means a regression, not a noisy neighbour. `protects`
 * says what a miss would break; it is printed with every miss.
 */
const TARGETS: Record<string, Target> = {
  'link.ping.p95': { kind: 'max', limit: 1.5,
    protects: 'the link itself (TLS, framing, id matching) adds nothing a person could notice' },
  'link.ping.p99': { kind: 'max', limit: 6,
    protects: 'no stalls on the link: GC pauses or a blocked agent loop would show here first' },
  'link.status.p95': { kind: 'max', limit: 1.5,
    protects: 'a chat command that asks a node (!ve status) answers at once' },
  'link.status.p99': { kind: 'max', limit: 2,
    protects: 'the slow tail of a VE command stays short; a lock or sync I/O would stretch it' },
  'link.status.pipelined': { kind: 'min', limit: 15_000,
    protects: 'many calls share one link (watcher, busy chat) without queueing behind each other' },
  'perCall.tls.ratio': { kind: 'min', limit: 10,
    protects: 'the client keeps its link: reconnecting per call would pull this down to about 1' },
  'memory.agent.idle': { kind: 'max', limit: 180,
    protects: 'the agent is a small guest on the node whose memory belongs to the VEs' },
  'memory.agent.links': { kind: 'max', limit: 200,
    protects: 'open links cost little: many bots, or reconnect storms, do not grow the agent' },
  'memory.agent.perLink': { kind: 'max', limit: 640,
    protects: 'per-link buffers stay bounded (line splitter, request queue, TLS state)' },
  'memory.agent.after': { kind: 'max', limit: 200,
    protects: 'no leak per request: thousands of calls leave the agent as big as before' },
  'parse.median': { kind: 'max', limit: 80,
    protects: 'every ubc call and every watcher poll parses the whole host file; it stays cheap' },
  'watcher.first': { kind: 'max', limit: 300,
    protects: 'a bot start on a full node (all baselines new) does not block the bot for long' },
  'watcher.steady': { kind: 'max', limit: 400,
    protects: 'a poll of a 1000-VE node, alerts included, is a blip inside its 60 s interval' },
  'dispatch.rate': { kind: 'min', limit: 2_500,
    protects: 'the store, roles and audit per command keep up with any chat burst' },
  'dispatch.p95': { kind: 'max', limit: 1,
    protects: 'a read-only command answers without waiting on SQLite or a slow lookup' },
  'memory.bot.heap': { kind: 'max', limit: 40,
    protects: 'the bot keeps no per-command state: the heap after 2000 commands stays small' },
  'memory.bot.rss': { kind: 'max', limit: 300,
    protects: 'the bot fits beside other services on a small VM' },
};

const VE = 101;

function progress(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

async function main(): Promise<number> {
  const began = nowMs();
  const root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-bench-'));
  const figures: Figure[] = [];

  try {
    progress('making a PKI and starting the agent (crewvz agent, sim driver)');
    const pki = await makeBenchPki(root);
    const agent = await startAgentChild(root, pki);
    const client = new AgentClient({
      name: NODE_NAME, address: `127.0.0.1:${agent.port}`, tls: pki.bot, logger: silentLogger(),
    });

    try {
      const [template] = (await client.call('templates', [])) as string[];
      await client.call('create', [VE, template, 'bench']);
      const idle = await agentRss(agent.pid, 'memory.agent.idle', 'agent RSS, idle, one link');

      progress('agent link: sequential and pipelined round trips');
      const link = await measureLink(client, VE);
      figures.push(...link.figures);

      progress('per-call cost: a new TLS link per call, a new process per call');
      figures.push(...(await measureConnectCost({
        port: agent.port, pki, ve: VE, persistentP50Ms: link.statusP50Ms,
      })));

      progress('agent memory');
      figures.push(idle, ...(await agentRssWithLinks(agent.pid, agent.port, pki, idle.value)));
      figures.push(await agentRss(agent.pid, 'memory.agent.after', 'agent RSS after all the load'));

      progress('beancounter parsing');
      figures.push(...(await measureParse()));

      progress('watcher polls');
      figures.push(...(await measureWatcher()));

      progress('dispatcher (a bot process of its own)');
      figures.push(...(await measureDispatcher(root, pki, agent.port)));
    } finally {
      await client.close();
      await agent.stop();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const seconds = (nowMs() - began) / 1000;
  return report(figures, seconds);
}

/** Prints the table; 0 when every target is met, 1 on a miss. */
function report(figures: readonly Figure[], seconds: number): number {
  // A target whose figure is never measured could never miss: that is a bug in the bench.
  const unmeasured = Object.keys(TARGETS).filter((key) => !figures.some((f) => f.key === key));
  if (unmeasured.length > 0) {
    throw new Error(`targets without a measured figure: ${unmeasured.join(', ')}`);
  }
  const judged = judge(figures, TARGETS);
  const missed = judged.filter((row) => !row.pass);
  const withTarget = judged.filter((row) => row.target !== null).length;
  const machine = `${os.cpus().length} CPUs, Node ${process.version}, ${os.platform()}`;

  process.stdout.write(`crewvz benchmark (${machine}; ${seconds.toFixed(1)} s)\n\n`);
  process.stdout.write(`${renderTable(judged)}\n\n`);
  process.stdout.write(`${withTarget - missed.length} of ${withTarget} targets met\n`);
  for (const { figure, target } of missed) {
    process.stdout.write(`MISS ${figure.label}: ${target?.protects}\n`);
  }
  return missed.length === 0 ? 0 : 1;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 2;
  },
);
