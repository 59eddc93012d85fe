/**
 * `update` against an https mirror that wants a password: the credentials in templateSource
 * reach the mirror and nothing else (not the answer, not the agent's log), and a second
 * `update` while one runs is answered 1005 at once.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';

import { AgentConfigError, buildConfig } from '../agent/config.ts';
import { startAgent, type RunningAgent } from '../agent/main.ts';
import { AgentCode } from '../agent/protocol.ts';
import { provisioningHandlers } from '../agent/provision/commands.ts';
import { redactUrlCredentials } from '../agent/redact.ts';
import { rawConnect, type RawConnection } from './helpers/agent.ts';
import { makeTestPki } from './helpers/pki.ts';

const PASSWORD = 'S3cr3tPw';
const GOOD_AUTH = `Basic ${Buffer.from(`mirror:${PASSWORD}`).toString('base64')}`;

let dir: string;
let mirror: Server;
let agent: RunningAgent;
let raw: RawConnection;
const logLines: string[] = [];
/** While set, the mirror holds index.json until the test calls it. */
let holdIndex: Promise<void> | null = null;
let indexRequested: () => void = () => undefined;

function serve(request: IncomingMessage, response: ServerResponse): void {
  if (request.headers.authorization !== GOOD_AUTH) {
    response.writeHead(401).end();
    return;
  }
  if (request.url !== '/tpl/index.json') {
    response.writeHead(404).end();
    return;
  }
  indexRequested();
  const index = JSON.stringify([{ name: 'alpine-3.19.tar.xz', size: 4, sha256: 'a'.repeat(64) }]);
  void (holdIndex ?? Promise.resolve()).then(() => response.writeHead(200).end(index));
}

function sourceWith(password: string): string {
  const { port } = mirror.address() as AddressInfo;
  return `https://mirror:${password}@127.0.0.1:${port}/tpl`;
}

before(async () => {
  const pki = await makeTestPki();
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-template-source-'));
  mirror = createServer({ ...pki.node1 }, serve);
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));

  const { config } = buildConfig(
    {
      name: 'node1',
      listen: '127.0.0.1:0',
      pki: pki.dir,
      driver: 'sim',
      stateDir: path.join(dir, 'state'),
      templateSource: sourceWith(PASSWORD),
      templateSourceCa: path.join(pki.dir, 'ca.crt'),
    },
    dir,
  );
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  agent = await startAgent(config, { logger: pino({ level: 'debug' }, sink) });
  raw = await rawConnect(agent.address.port);
});

after(async () => {
  raw.close();
  await agent.stop();
  await new Promise<void>((resolve) => mirror.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('credentials in templateSource', () => {
  it('hide the user-info of any URL in a text', () => {
    assert.equal(
      redactUrlCredentials('from https://u:p%40ss@h:1/x failed: https://u@h/y.json said 401'),
      'from https://***@h:1/x failed: https://***@h/y.json said 401',
    );
    const plain = '/srv/templates and mail@example.edu';
    assert.equal(redactUrlCredentials(plain), plain);
  });

  it('reach the mirror, and a failing file is reported without them', async () => {
    const answer = await raw.request('update', [], 'u1');
    assert.equal(answer.code, AgentCode.OK, JSON.stringify(answer));

    const [result] = answer.returned as [{ failed: Array<{ reason: string }> }];
    assert.match(result.failed[0]?.reason ?? '', /^https:\/\/\*\*\*@127\.0\.0\.1:\d+\/tpl\/alpine/);
    assert.ok(!JSON.stringify(answer).includes(PASSWORD));
    assert.ok(logLines.some((line) => line.includes('https://***@')), 'the failure is logged');
    assert.ok(!logLines.some((line) => line.includes(PASSWORD)), logLines.join(''));
  });

  it('never show up in the answer or the log of an update the mirror refuses', async () => {
    const { config } = buildConfig(
      {
        name: 'node1',
        pki: '/nonexistent',
        driver: 'sim',
        stateDir: path.join(dir, 'other'),
        templateSource: sourceWith('Wr0ngPw'),
        templateSourceCa: path.join((await makeTestPki()).dir, 'ca.crt'),
      },
      dir,
    );
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const handlers = await provisioningHandlers(config, logger);

    const update = handlers.update;
    assert.ok(update);
    await assert.rejects(update.run(null, {} as never), (error: unknown) => {
      const text = (error as { lines: string[] }).lines.join('\n');
      assert.match(text, /update from https:\/\/\*\*\*@127.0.0.1:\d+\/tpl failed: .*HTTP 401/);
      assert.ok(!text.includes('Wr0ngPw'), text);
      return true;
    });
    assert.ok(!lines.some((line) => line.includes('Wr0ngPw')));
  });

  it('are hidden in the config error for a source that is no https URL', async () => {
    const { config } = buildConfig(
      { name: 'node1', pki: '/p', driver: 'sim', stateDir: dir, templateSource: 'ftp://u:pw@h/' },
      dir,
    );
    await assert.rejects(provisioningHandlers(config, pino({ level: 'silent' })), (error) => {
      assert.ok(error instanceof AgentConfigError);
      assert.match(error.message, /'ftp:\/\/\*\*\*@h\/' must be an https:\/\/ URL/);
      return true;
    });
  });
});

describe('update runs one at a time', () => {
  it('answers 1005 to a second update while the first syncs, and serves it after', async () => {
    let release: () => void = () => undefined;
    holdIndex = new Promise((resolve) => {
      release = resolve;
    });
    const asked = new Promise<void>((resolve) => {
      indexRequested = resolve;
    });

    const first = raw.request('update', [], 'first');
    await asked;
    const second = await raw.request('update', [], 'second');
    assert.equal(second.code, AgentCode.VE_BUSY);
    assert.match(String(second.returned[0]), /template update is already running/);

    holdIndex = null;
    release();
    assert.equal((await first).code, AgentCode.OK);
    assert.equal((await raw.request('update', [], 'third')).code, AgentCode.OK);
  });
});
