/**
 * The whole agent with the vzctl driver: a real `crewvz agent` child process, spoken to over
 * mutual TLS, running the fake vzctl and vzlist (test/fixtures/fake-vz). The agent gives the
 * programs a clean environment, so the config names two small wrappers that set FAKE_VZ_DIR and
 * exec the fakes with this node. Every fake call appends to calls.log: hostile requests must
 * leave it as it was, since they must start no process at all.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { AgentCode, MAX_LINE_BYTES, type AgentResponse, type VeStatus } from '../agent/protocol.ts';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { rawConnect, type RawConnection } from './helpers/agent.ts';
import { writeFakeVzWrapper } from './helpers/fake-vz-node.ts';
import { makeTestPki } from './helpers/pki.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '../src/cli.ts');
const BEANCOUNTERS = path.join(HERE, 'fixtures/beancounters/synthetic-host-last.txt');

let dir: string;
let fakeDir: string;
let agent: AgentProcess;
let raw: RawConnection;

function wrapper(name: 'vzctl' | 'vzlist'): Promise<string> {
  return writeFakeVzWrapper(path.join(dir, 'bin'), fakeDir, name);
}

async function calls(): Promise<string[][]> {
  const text = await readFile(path.join(fakeDir, 'calls.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

async function ok(command: string, args: unknown[] = []): Promise<unknown[]> {
  const answer = await raw.request(command, args);
  assert.equal(answer.code, 0, `${command}: ${JSON.stringify(answer.returned)}`);
  return answer.returned;
}

function failed(answer: AgentResponse, code: number, lines?: string[]): void {
  assert.equal(answer.code, code, JSON.stringify(answer.returned));
  if (lines) {
    assert.deepEqual(answer.returned, lines);
  }
}

before(async () => {
  const pki = await makeTestPki();
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-vzctl-e2e-'));
  fakeDir = path.join(dir, 'vz');
  const templates = path.join(fakeDir, 'template/cache');
  await mkdir(templates, { recursive: true });
  await mkdir(path.join(dir, 'bin'));
  await writeFile(path.join(templates, 'debian-12.tar.gz'), '');
  await copyFile(BEANCOUNTERS, path.join(dir, 'ubc.txt'));

  agent = await startAgentProcess({
    dir,
    config: {
      name: 'node1',
      pki: pki.dir,
      driver: 'vzctl',
      stateDir: path.join(dir, 'state'),
      vzctl: await wrapper('vzctl'),
      vzlist: await wrapper('vzlist'),
      beancounters: path.join(dir, 'ubc.txt'),
      templates,
    },
    args: (file) => [CLI, 'agent', '--config', file],
  });
  raw = await rawConnect(agent.port);
});

after(async () => {
  raw?.close();
  await agent?.cleanup();
});

describe('the agent with the vzctl driver, over mutual TLS', () => {
  it('answers ping and templates without running vzctl', async () => {
    const [ping] = (await ok('ping')) as [{ name: string; driver: string }];
    assert.deepEqual([ping.name, ping.driver], ['node1', 'vzctl']);
    assert.deepEqual(await ok('templates'), ['debian-12']);
    assert.deepEqual(await calls(), []);
  });

  it('creates and starts a VE, saving the default limits in one vzctl set', async () => {
    const [created] = (await ok('create', [101, 'debian-12', 'alice'])) as [VeStatus];
    assert.equal(created.state, 'running');
    assert.equal(created.hostname, 'alice');
    assert.ok(created.startedAt);

    const vzctl = (await calls()).filter((call) => call[0] === 'vzctl');
    assert.deepEqual(
      vzctl.map((call) => call.slice(0, 3)),
      [
        ['vzctl', 'create', '101'],
        ['vzctl', 'set', '101'],
        ['vzctl', 'start', '101'],
      ],
    );
    const conf = await readFile(path.join(fakeDir, 'conf/101.conf'), 'utf8');
    assert.match(conf, /^NUMPROC="400:400"$/m);
  });

  it('passes vzctl exit statuses through with its lines', async () => {
    failed(await raw.request('create', [101, 'debian-12', 'bob']), 44, [
      'Private area already exists in /vz/private/101',
    ]);
    failed(await raw.request('start', ['101']), 32, ['Container is already running']);
    failed(await raw.request('start', [999]), 14, ['Container config file does not exist']);
    failed(await raw.request('set', [999, 'numproc', '100']), 14);
  });

  it('reports status and list from vzlist, and an unknown VE as absent', async () => {
    const [status] = (await ok('status', [101])) as [VeStatus];
    assert.equal(status.state, 'running');
    const [unknown] = (await ok('status', [999])) as [VeStatus];
    assert.equal(unknown.state, 'absent');
    const listed = (await ok('list')) as VeStatus[];
    assert.deepEqual(
      listed.map((ve) => [ve.id, ve.state]),
      [[101, 'running']],
    );
  });

  it('sets a limit with --save and reads beancounters from the configured file', async () => {
    assert.deepEqual(await ok('set', [101, 'numproc', '300:320']), []);
    const conf = await readFile(path.join(fakeDir, 'conf/101.conf'), 'utf8');
    assert.match(conf, /^NUMPROC="300:320"$/m);

    const rows = (await ok('ubc')) as Array<{ ve: string; resource: string; failcnt: number }>;
    assert.equal(rows.length, 60);
    const numproc = ((await ok('ubc', [10000101])) as typeof rows).find(
      (row) => row.resource === 'numproc',
    );
    assert.equal(numproc?.failcnt, 27);
  });

  it('stops, says what vzctl said on a second stop, and removes with one stop', async () => {
    const [stopped] = (await ok('stop', [101])) as [VeStatus];
    assert.equal(stopped.state, 'stopped');
    const again = await ok('stop', [101]);
    assert.equal((again[0] as VeStatus).state, 'stopped');
    assert.deepEqual(again.slice(1), ['Unable to stop: container is not running']);

    await ok('start', [101]);
    const before = (await calls()).length;
    assert.deepEqual(await ok('remove', [101]), []);
    const vzctl = (await calls()).slice(before).filter((call) => call[0] === 'vzctl');
    assert.deepEqual(vzctl, [
      ['vzctl', 'stop', '101'],
      ['vzctl', 'destroy', '101'],
    ]);
    const [gone] = (await ok('status', [101])) as [VeStatus];
    assert.equal(gone.state, 'absent');
  });

  it('refuses hostile requests with their codes and starts no process', async () => {
    const before = await calls();
    const refusals: Array<[string, unknown[]]> = [
      ['status', ['101;reboot']],
      ['start', ['$(reboot)']],
      ['stop', ['101 && reboot']],
      ['create', [102, '../../etc/passwd', 'bob']],
      ['create', [102, 'debian-12', 'x;reboot']],
      ['set', [101, 'numproc', '1;reboot']],
      ['set', [101, 'numproc;reboot', '100']],
    ];
    for (const [command, args] of refusals) {
      const answer = await raw.request(command, args);
      assert.equal(answer.code, AgentCode.INVALID_ARGUMENTS, `${command} ${JSON.stringify(args)}`);
    }

    raw.send(`{"command":"status","arguments":["${'1'.repeat(MAX_LINE_BYTES + 1)}"]}\n`);
    failed(await raw.next(), AgentCode.REQUEST_TOO_LARGE);
    const start = Buffer.from('{"command":"start","arguments":["101"],"id":"');
    raw.send(Buffer.concat([start, Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]));
    failed(await raw.next(), AgentCode.MALFORMED_JSON, ['the request is not valid UTF-8']);

    assert.deepEqual(await calls(), before, 'no hostile request ran vzctl or vzlist');
    await ok('ping');
  });

  it('answers a broken beancounters file with a reference, never its path', async () => {
    await writeFile(path.join(dir, 'ubc.txt'), 'Version: 2.5\nnot a header\n');
    const answer = await raw.request('ubc');
    failed(answer, AgentCode.INTERNAL);
    assert.equal(answer.returned.length, 1);
    assert.match(String(answer.returned[0]), /^internal agent error \(reference [0-9a-f]{8}\)/);
    assert.doesNotMatch(String(answer.returned[0]), /ubc\.txt|\//);
  });
});
