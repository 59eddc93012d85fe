import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';

import { AgentCode } from '../agent/protocol.ts';
import { AgentCallError, AgentClient, NodeUnreachableError } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { startTestAgent, type TestAgent } from './helpers/agent.ts';
import { makeGate } from './helpers/gate.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

let pki: TestPki;

before(async () => {
  pki = await makeTestPki();
});

function clientFor(port: number, extra: { callTimeoutMs?: number } = {}): AgentClient {
  return new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${port}`,
    tls: { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key },
    logger: silentLogger(),
    connectTimeoutMs: 2000,
    backoffInitialMs: 50,
    backoffMaxMs: 200,
    ...extra,
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('agent client', () => {
  const gate = makeGate();
  let agent: TestAgent;
  let template: string;

  before(async () => {
    agent = await startTestAgent({ wrap: (driver) => gate.wrap(driver) });
    template = (await agent.driver.templates())[0] as string;
  });

  after(async () => {
    gate.release();
    await agent.stop();
  });

  it('connects lazily and resolves answers matched by id, many at once', async () => {
    const client = clientFor(agent.port);
    assert.equal(client.connected, false);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.call('status', [1000 + i])),
    );
    assert.deepEqual(
      answers.map((returned) => (returned[0] as { id: number }).id),
      Array.from({ length: 20 }, (_, i) => 1000 + i),
    );
    assert.equal(client.connected, true);
    await client.close();
  });

  it('rejects with AgentCallError carrying the code and lines', async () => {
    const client = clientFor(agent.port);
    await assert.rejects(client.call('start', ['0x65']), (error: unknown) => {
      assert.ok(error instanceof AgentCallError);
      assert.equal(error.node, 'node1');
      assert.equal(error.command, 'start');
      assert.equal(error.code, AgentCode.INVALID_ARGUMENTS);
      assert.match(error.lines[0] ?? '', /ID must be an integer/);
      return true;
    });
    await client.close();
  });

  it('times a call out with code 1006 and still serves the next call', async () => {
    const client = clientFor(agent.port);
    await client.call('create', [501, template, 'erin']);
    gate.hold('restart');
    const started = Date.now();
    await assert.rejects(client.call('restart', [501], { timeoutMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof AgentCallError);
      assert.equal(error.code, AgentCode.TIMEOUT);
      return true;
    });
    assert.ok(Date.now() - started < 1500);
    gate.release();
    assert.equal(((await client.call('ping')) as [{ name: string }])[0].name, 'node1');
    // The held restart ends in the background; the VE is busy (1005) until it has.
    for (let tries = 0; ; tries += 1) {
      try {
        await client.call('remove', [501]);
        break;
      } catch (error) {
        const busy = error instanceof AgentCallError && error.code === AgentCode.VE_BUSY;
        assert.ok(busy && tries < 50, String(error));
        await sleep(50);
      }
    }
    await client.close();
  });

  it('reconnects after the agent restarts on the same port', async () => {
    const first = await startTestAgent();
    const port = first.port;
    const stateDir = first.stateDir;
    const client = clientFor(port);
    await client.call('ping');

    await first.running.stop();
    await sleep(50);
    await assert.rejects(client.call('ping'), NodeUnreachableError);

    const second = await startTestAgent({ port, stateDir });
    let answered = false;
    for (let attempt = 0; attempt < 40 && !answered; attempt += 1) {
      try {
        await client.call('ping');
        answered = true;
      } catch (error) {
        assert.ok(error instanceof NodeUnreachableError, String(error));
        await sleep(100);
      }
    }
    assert.equal(answered, true, 'the client came back once the agent was up again');
    await client.close();
    await second.stop();
    await rm(stateDir, { recursive: true, force: true });
  });
});

describe('agent client: unreachable nodes', () => {
  it('fails quickly with NodeUnreachableError when nothing listens', async () => {
    const client = clientFor(await freePort());
    const started = Date.now();
    await assert.rejects(client.call('ping'), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachableError);
      assert.equal(error.node, 'node1');
      assert.match(error.message, /node node1 is unreachable .*ECONNREFUSED/);
      return true;
    });
    await assert.rejects(client.call('ping'), NodeUnreachableError);
    assert.ok(Date.now() - started < 1000, 'no waiting for the call timeout');
    await client.close();
  });

  it('rejects waiting calls when the connection drops', async () => {
    const server = tls.createServer({ ...pki.node1, minVersion: 'TLSv1.2' }, (socket) => {
      socket.on('data', () => socket.destroy());
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = clientFor((server.address() as AddressInfo).port, { callTimeoutMs: 5000 });

    const started = Date.now();
    await assert.rejects(client.call('list'), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachableError);
      assert.match(error.reason, /connection lost/);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
    await client.close();
    server.close();
  });

  it('refuses calls after close()', async () => {
    const client = clientFor(await freePort());
    await client.close();
    await assert.rejects(client.call('ping'), /client is closed/);
  });
});
