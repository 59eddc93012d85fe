/**
 * What a stranger without a certificate can do to the agent's port: hold connections (capped
 * per address and in total, cut after the handshake timeout), fill the log (one warning, then
 * a summary per interval) and renegotiate TLS 1.2 (refused, connection closed).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import tls from 'node:tls';
import pino from 'pino';

import { buildConfig } from '../agent/config.ts';
import { rawConnect, startTestAgent, type TestAgent } from './helpers/agent.ts';
import { makeTestPki } from './helpers/pki.ts';

const HANDSHAKE_TIMEOUT_MS = 400;
const agents: TestAgent[] = [];

after(async () => {
  await Promise.all(agents.map((agent) => agent.stop()));
});

interface LogRecord {
  level: number;
  msg: string;
  refused?: number;
  peer?: string;
  reasons?: Record<string, number>;
}

async function guardedAgent(extraConfig: Record<string, unknown>) {
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      records.push(JSON.parse(chunk.toString()) as LogRecord);
      done();
    },
  });
  const agent = await startTestAgent({
    extraConfig,
    logger: pino({ level: 'info' }, sink),
    server: { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, refusalLogIntervalMs: 300 },
  });
  agents.push(agent);
  return { agent, records };
}

/** An idle TCP connection that never starts TLS, and when it was closed (ms after opening). */
function idle(port: number): { socket: net.Socket; closedAfter: Promise<number> } {
  const opened = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closedAfter = new Promise<number>((resolve) =>
    socket.on('close', () => resolve(Date.now() - opened)),
  );
  return { socket, closedAfter };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for a condition with a generous deadline, so a loaded machine does not fail the test. */
async function until(condition: () => boolean, deadlineMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    assert.ok(Date.now() - started < deadlineMs, `condition not met within ${deadlineMs} ms`);
    await sleep(20);
  }
}

describe('connections before the handshake', () => {
  it('caps idle connections per address; the rest are closed at once', async () => {
    const { agent } = await guardedAgent({ maxHandshakesPerAddress: 4 });
    const sockets = Array.from({ length: 10 }, () => idle(agent.port));

    // Admitted connections can only be cut by the 400 ms handshake timeout; the refused ones
    // are closed as soon as they are accepted, so the split does not depend on timing.
    const closedAfter = await Promise.all(sockets.map((entry) => entry.closedAfter));
    const closedEarly = closedAfter.filter((ms) => ms < HANDSHAKE_TIMEOUT_MS);
    assert.equal(closedEarly.length, 6, `closed after ${closedAfter.join(', ')} ms`);

    const raw = await rawConnect(agent.port);
    assert.equal((await raw.request('ping')).code, 0);
    raw.close();
  });

  it('cuts a connection that does not finish its handshake in time', async () => {
    const { agent } = await guardedAgent({});
    const { closedAfter } = idle(agent.port);
    const after = await closedAfter;
    assert.ok(after >= 300 && after < 2000, `closed after ${after} ms`);
  });

  it('holds no more than maxConnections at once, authenticated or not', async () => {
    const { agent } = await guardedAgent({ maxConnections: 3, maxHandshakesPerAddress: 100 });
    const sockets = [idle(agent.port), idle(agent.port), idle(agent.port), idle(agent.port)];

    // Whichever connection comes fourth is refused at once; the three held ones last until
    // the handshake timeout.
    const closedAfter = await Promise.all(sockets.map((entry) => entry.closedAfter));
    const closedEarly = closedAfter.filter((ms) => ms < HANDSHAKE_TIMEOUT_MS);
    assert.equal(closedEarly.length, 1, `closed after ${closedAfter.join(', ')} ms`);
  });

  it('reads both limits from the config, with defaults', () => {
    const base = { name: 'node1', pki: '/p', driver: 'vzctl' };
    const { config } = buildConfig(base, '/etc/crewvz');
    assert.equal(config.maxConnections, 256);
    assert.equal(config.maxHandshakesPerAddress, 16);
    assert.throws(() => buildConfig({ ...base, maxConnections: 0 }, '/'), /maxConnections: must/);
  });
});

describe('refused handshakes in the log', () => {
  it('names the address of a client that hung up during the handshake', async () => {
    const pki = await makeTestPki();
    const { agent, records } = await guardedAgent({});
    // The client finds the wrong name in the agent's certificate and hangs up, so the agent's
    // TLS socket has lost its address by the time the error reaches it.
    const clientPort = await new Promise<number>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: agent.port,
        ca: pki.ca,
        cert: pki.bot.cert,
        key: pki.bot.key,
        servername: 'node2',
      });
      socket.on('connect', () => resolve(socket.localPort as number));
      socket.on('error', () => undefined);
    });
    await until(() => records.some((record) => record.msg === 'connection refused'));
    const refusal = records.find((record) => record.msg === 'connection refused');
    assert.equal(refusal?.peer, `127.0.0.1:${clientPort}`);
  });

  it('logs the first one, then one summary with the count per interval', async () => {
    const { agent, records } = await guardedAgent({ maxHandshakesPerAddress: 100 });
    const garbage = Array.from({ length: 40 }, () => {
      const socket = net.connect(agent.port, '127.0.0.1', () => socket.write('GET / HTTP/1.0\n\n'));
      socket.on('error', () => undefined);
      return new Promise((resolve) => socket.on('close', resolve));
    });
    await Promise.all(garbage);
    const summarised = () =>
      records
        .filter((record) => record.msg === 'connections refused (summary)')
        .reduce((total, record) => total + (record.refused ?? 0), 0);
    await until(() => summarised() >= 39);

    const warnings = records.filter((record) => record.level === 40);
    assert.ok(warnings.length <= 3, `${warnings.length} warnings for 40 refusals`);
    assert.equal(warnings[0]?.msg, 'connection refused');
    const counted = warnings
      .filter((record) => record.msg === 'connections refused (summary)')
      .reduce((total, record) => total + (record.refused ?? 0), 0);
    assert.equal(counted, 39);
    const reasons = Object.keys(warnings[1]?.reasons ?? {});
    assert.ok(reasons.every((reason) => reason.startsWith('TLS handshake failed')), reasons.join());
  });
});

describe('TLS renegotiation', () => {
  it('is refused and ends the connection; the agent goes on serving', async () => {
    const { agent } = await guardedAgent({});
    const raw = await rawConnect(agent.port, { maxVersion: 'TLSv1.2' });
    assert.equal((await raw.request('ping')).code, 0);

    // The agent answers the renegotiation with an alert and drops the connection, so the
    // callback may never run: a close counts as refused too.
    const outcome = await new Promise<string>((resolve) => {
      raw.socket.once('close', () => resolve('refused'));
      const started = raw.socket.renegotiate({ rejectUnauthorized: true }, (error) =>
        resolve(error ? 'refused' : 'renegotiated'),
      );
      if (!started) {
        resolve('refused');
      }
    });
    assert.equal(outcome, 'refused');
    await raw.closed;

    const fresh = await rawConnect(agent.port);
    assert.equal((await fresh.request('ping')).code, 0);
    fresh.close();
  });
});
