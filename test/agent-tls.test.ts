import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';

import { AgentClient, NodeUnreachableError } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { rawConnect, startTestAgent, type TestAgent } from './helpers/agent.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

let pki: TestPki;
let agent: TestAgent;

before(async () => {
  pki = await makeTestPki();
  agent = await startTestAgent();
});

after(async () => {
  await agent.stop();
});

/**
 * Connects with `options`, sends a ping and resolves with what happened. A refused client may
 * finish its side of a TLS 1.3 handshake before the agent's verdict arrives, so "refused" means
 * no answer ever comes back and the connection ends.
 */
function attempt(options: tls.ConnectionOptions): Promise<{ answered: boolean; error?: string }> {
  return new Promise((resolve) => {
    let answered = false;
    let error: string | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port: agent.port, ...options });
    socket.on('secureConnect', () => socket.write('{"command":"ping","id":1}\n'));
    socket.on('data', () => {
      answered = true;
      socket.end();
    });
    socket.on('error', (failure) => {
      error = failure.message;
    });
    socket.on('close', () => resolve({ answered, ...(error ? { error } : {}) }));
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}

describe('agent TLS: who may talk to the agent', () => {
  it('accepts the bot certificate', async () => {
    const result = await attempt({
      ca: pki.ca,
      cert: pki.bot.cert,
      key: pki.bot.key,
      servername: 'node1',
    });
    assert.equal(result.answered, true);
  });

  it('refuses a client without a certificate', async () => {
    const result = await attempt({ ca: pki.ca, servername: 'node1' });
    assert.equal(result.answered, false);
    assert.ok(result.error, 'the client sees the refusal as an error');
  });

  it('refuses a client certificate from another CA', async () => {
    const result = await attempt({
      ca: pki.ca,
      cert: pki.foreignClient.cert,
      key: pki.foreignClient.key,
      servername: 'node1',
    });
    assert.equal(result.answered, false);
  });

  it("refuses an agent's own certificate used as a client certificate", async () => {
    const result = await attempt({
      ca: pki.ca,
      cert: pki.node2.cert,
      key: pki.node2.key,
      servername: 'node1',
    });
    assert.equal(result.answered, false);
  });

  it('refuses a CA-signed certificate without extended key usage clientAuth', async () => {
    const result = await attempt({
      ca: pki.ca,
      cert: pki.noUsage.cert,
      key: pki.noUsage.key,
      servername: 'node1',
    });
    assert.equal(result.answered, false);
  });

  it('refuses TLS older than 1.2', async () => {
    const result = await attempt({
      ca: pki.ca,
      cert: pki.bot.cert,
      key: pki.bot.key,
      servername: 'node1',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
    });
    assert.equal(result.answered, false);
  });

  it('goes on serving the bot after refusing others', async () => {
    const raw = await rawConnect(agent.port);
    assert.equal((await raw.request('ping')).code, 0);
    raw.close();
  });
});

describe('agent TLS: whom the client trusts', () => {
  const servers: tls.Server[] = [];

  after(() => {
    for (const server of servers) {
      server.close();
    }
  });

  /** A bare TLS server presenting `identity`, to see whether the client gets past the handshake. */
  async function impostor(identity: { cert: string; key: string }): Promise<number> {
    const server = tls.createServer({ ...identity, minVersion: 'TLSv1.2' }, (socket) => {
      socket.on('data', () => socket.write('{"code":0,"returned":["impostor"],"id":1}\n'));
      socket.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  function client(name: string, port: number): AgentClient {
    return new AgentClient({
      name,
      address: `127.0.0.1:${port}`,
      tls: { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key },
      logger: silentLogger(),
      connectTimeoutMs: 2000,
    });
  }

  async function refusedWith(name: string, port: number, reason: RegExp): Promise<void> {
    const bot = client(name, port);
    await assert.rejects(bot.call('ping'), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachableError);
      assert.equal(error.node, name);
      assert.match(error.reason, reason);
      return true;
    });
    await bot.close();
  }

  it('reaches node1 by IP address, checking the name node1 in its certificate', async () => {
    const bot = client('node1', agent.port);
    const [ping] = (await bot.call('ping')) as [{ name: string }];
    assert.equal(ping.name, 'node1');
    await bot.close();
  });

  it('refuses an agent whose certificate names another node', async () => {
    await refusedWith('node2', agent.port, /node2|altnames|Hostname/i);
  });

  it('refuses an agent with an expired certificate', async () => {
    await refusedWith('node1', await impostor(pki.expiredNode1), /expired/i);
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const port = await impostor(pki.foreignClient);
    await refusedWith('crewvz-bot', port, /certificate|self.signed|issuer/i);
  });

  it('refuses a server presenting the bot (client-only) certificate', async () => {
    await refusedWith('crewvz-bot', await impostor(pki.bot), /purpose|server certificate/i);
  });
});
