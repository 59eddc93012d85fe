/**
 * Why a node is unreachable: the agent client logs one warning with a short reason when a node
 * stops answering (not one per retry) and one info line when it is back, and `!nodes` shows the
 * reason to the crew. Real TLS against an in-process agent, real refused ports.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import pino from 'pino';

import { AgentClient, NodeUnreachableError } from '../src/agent-client.ts';
import { NodePool } from '../src/nodes.ts';
import { startTestAgent, type TestAgent } from './helpers/agent.ts';
import { freePort, startBotRig } from './helpers/bot-rig.ts';
import { makeTestPki } from './helpers/pki.ts';

interface Entry {
  level: number;
  msg: string;
  reason?: string;
  node?: string;
}

const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) {
    await cleanup();
  }
});

function capture() {
  const entries: Entry[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString());
      entries.push(JSON.parse(chunk.toString()) as Entry);
      done();
    },
  });
  return { entries, raw, logger: pino({ level: 'debug' }, stream) };
}

async function client(port: number, options: { name?: string; foreignCert?: boolean } = {}) {
  const pki = await makeTestPki();
  const log = capture();
  const mine = options.foreignCert ? pki.foreignClient : pki.bot;
  const agentClient = new AgentClient({
    name: options.name ?? 'node1',
    address: `127.0.0.1:${port}`,
    tls: { ca: pki.ca, cert: mine.cert, key: mine.key },
    logger: log.logger,
    backoffInitialMs: 20,
    backoffMaxMs: 50,
    connectTimeoutMs: 300,
    // Every call dials, so the tests need not sleep through the 1 s between dials.
    minDialIntervalMs: 0,
  });
  cleanups.push(async () => agentClient.close());
  return { agentClient, log };
}

async function failure(agentClient: AgentClient): Promise<NodeUnreachableError> {
  const error = await agentClient.call('ping', []).then(
    () => null,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof NodeUnreachableError, `expected unreachable, got ${String(error)}`);
  return error;
}

const warnings = (entries: Entry[]): Entry[] => entries.filter((entry) => entry.level === 40);

async function agentOn(port = 0): Promise<TestAgent> {
  const agent = await startTestAgent({ port });
  cleanups.push(() => agent.stop());
  return agent;
}

describe('unreachable nodes say why', () => {
  test('refused port: one warning with the reason, one info line when it is back', async () => {
    const port = await freePort();
    const { agentClient, log } = await client(port);

    for (let attempt = 0; attempt < 3; attempt += 1) {
      assert.equal((await failure(agentClient)).short, 'connection refused');
    }
    const warned = warnings(log.entries);
    assert.equal(warned.length, 1, JSON.stringify(log.entries));
    assert.equal(warned[0]?.msg, 'node unreachable');
    assert.equal(warned[0]?.reason, 'connection refused');

    await agentOn(port);
    let answered = false;
    for (let attempt = 0; attempt < 40 && !answered; attempt += 1) {
      answered = await agentClient.call('ping', []).then(() => true, () => false);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(answered);
    const back = log.entries.filter((entry) => entry.msg === 'node answers again');
    assert.equal(back.length, 1);
    assert.equal(back[0]?.level, 30);
    assert.ok(
      log.raw.every((line) => (line.match(/"node":/g) ?? []).length <= 1),
      'no key is written twice',
    );
  });

  test('a certificate for another name: certificate name mismatch', async () => {
    const agent = await agentOn();
    const { agentClient, log } = await client(agent.port, { name: 'node2' });
    assert.equal((await failure(agentClient)).short, 'certificate name mismatch');
    assert.equal(warnings(log.entries)[0]?.reason, 'certificate name mismatch');
  });

  test('a bot certificate the agent does not trust: TLS handshake refused', async () => {
    const agent = await agentOn();
    const { agentClient, log } = await client(agent.port, { foreignCert: true });
    assert.equal((await failure(agentClient)).short, 'TLS handshake refused');
    assert.equal(warnings(log.entries).length, 1);
  });

  test('a port that never answers the handshake: timed out', async () => {
    const server = net.createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.close();
    });
    const { port } = server.address() as net.AddressInfo;
    const { agentClient } = await client(port);
    assert.equal((await failure(agentClient)).short, 'timed out');
  });

  test('the node pool binds the node name once in its log lines', async () => {
    const pki = await makeTestPki();
    const log = capture();
    const address = `127.0.0.1:${await freePort()}`;
    const tls = { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key };
    const pool = NodePool.connect([{ name: 'node1', address }], tls, log.logger);
    cleanups.push(() => pool.close());
    await assert.rejects(pool.call('node1', 'ping', []), NodeUnreachableError);
    const line = log.raw.find((raw) => raw.includes('node unreachable')) ?? '';
    assert.equal(line.match(/"node":/g)?.length, 1, line);
  });

  test('!nodes shows the crew why a node does not answer', async () => {
    const rig = await startBotRig({ port: await freePort() });
    cleanups.push(async () => {
      await rig.stop();
      await rm(rig.dir, { recursive: true, force: true });
    });
    const lines = (await rig.say('irc:crew1', '!nodes')).join('\n');
    assert.match(lines, /node1\s+unreachable: connection refused/);
  });
});

describe('approving with every node down', () => {
  test('two unreachable nodes are named in plain words and the request is kept', async () => {
    const nodes = [
      { name: 'blaine', address: `127.0.0.1:${await freePort()}` },
      { name: 'gale', address: `127.0.0.1:${await freePort()}` },
    ];
    const rig = await startBotRig({ port: 0, config: { nodes } });
    cleanups.push(async () => {
      await rig.stop();
      await rm(rig.dir, { recursive: true, force: true });
    });
    await rig.say('shell:una', '!ve create');

    const reply = (await rig.say('irc:crew1', '!approve 1')).join('\n');
    assert.equal(
      reply,
      'nodes blaine and gale unreachable, request #1 kept pending; approve it again later',
    );
    assert.equal(rig.bot.services.store.requests.get(1)?.state, 'pending');
  });
});
