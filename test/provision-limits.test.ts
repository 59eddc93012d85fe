/**
 * A vzctl node provisioned through the agent over mTLS, on the fake vzctl: the config's default
 * limits profile goes out in the one `vzctl set --save` after create (the fake's calls.log and
 * the saved VE config show it), the VE user is made by the driver's addUser, and remove leaves
 * nothing of it.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

import { buildConfig } from '../agent/config.ts';
import { DEFAULT_LIMITS } from '../agent/limits.ts';
import { startAgent, type RunningAgent } from '../agent/main.ts';
import { findHostAccount } from '../agent/provision/host-account.ts';
import { SAFE_PATH } from '../agent/run.ts';
import { createVzctlDriver } from '../agent/vzctl.ts';
import { AgentClient } from '../src/agent-client.ts';
import { makeTestPki } from './helpers/pki.ts';
import { makeScratchRoot, removeScratchRoot, snapshotFiles } from './helpers/scratch-root.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/fake-vz');
const quiet = pino({ level: 'silent' });

let root: string;
let fakeDir: string;
let pkiDir = '/nonexistent';
let agent: RunningAgent;
let client: AgentClient;

function nodeConfig(extra: Record<string, unknown> = {}) {
  return buildConfig(
    {
      name: 'node1',
      listen: '127.0.0.1:0',
      pki: pkiDir,
      driver: 'vzctl',
      templates: path.join(fakeDir, 'template/cache'),
      root,
      network: {
        pool: '10.0.7.20-10.0.7.29',
        nameservers: ['10.0.7.1'],
        searchdomain: 'lab.example',
        domain: 'vz.lab.example',
      },
      ...extra,
    },
    root,
  ).config;
}

async function vzctlCalls(): Promise<string[][]> {
  const log = await readFile(path.join(fakeDir, 'calls.log'), 'utf8');
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[])
    .filter((call) => call[0] === 'vzctl')
    .map((call) => call.slice(1));
}

before(async () => {
  const pki = await makeTestPki();
  pkiDir = pki.dir;
  root = await makeScratchRoot();
  fakeDir = path.join(root, 'vz');
  await mkdir(path.join(fakeDir, 'template/cache'), { recursive: true });
  await writeFile(path.join(fakeDir, 'template/cache/debian-12.tar.gz'), '');

  const config = nodeConfig();
  const driver = createVzctlDriver({
    vzctl: path.join(FAKE, 'vzctl'),
    vzlist: path.join(FAKE, 'vzlist'),
    beancounters: path.join(fakeDir, 'user_beancounters'),
    templatesDir: config.templates,
    logger: quiet,
    env: { FAKE_VZ_DIR: fakeDir, PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}` },
  });
  agent = await startAgent(config, { logger: quiet, driver });
  client = new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.address.port}`,
    tls: { ca: pki.ca, ...pki.bot },
    logger: quiet,
  });
});

after(async () => {
  await client?.close();
  await agent?.stop();
  await removeScratchRoot(root);
});

describe('the default limits profile on a vzctl node', () => {
  it('is what a vzctl node saves when its config has no limits', () => {
    assert.deepEqual(nodeConfig().limits, DEFAULT_LIMITS);
    assert.deepEqual(nodeConfig({ limits: { numproc: '240' } }).limits, { numproc: '240' });
    assert.deepEqual(nodeConfig({ limits: {} }).limits, {});
    const sim = nodeConfig({ driver: 'sim', stateDir: path.join(root, 'sim') });
    assert.deepEqual(sim.limits, {}, 'the sim keeps its own small VE');
  });

  it('goes out in the one vzctl set --save after create, and remove undoes it all', async () => {
    const before = await snapshotFiles(root);
    const [status] = (await client.call('create', [101, 'debian-12', 'alice'])) as [
      { state: string; address: string },
    ];
    assert.equal(status.state, 'running');
    assert.equal(status.address, '10.0.7.20');

    const calls = await vzctlCalls();
    const sets = calls.filter((call) => call[0] === 'set');
    assert.equal(sets.length, 1, 'one vzctl set');
    const limits = Object.entries(DEFAULT_LIMITS).flatMap(([name, value]) => [`--${name}`, value]);
    assert.deepEqual(sets[0], [
      'set',
      '101',
      '--nameserver',
      '10.0.7.1',
      '--searchdomain',
      'lab.example',
      ...limits,
      '--save',
    ]);
    assert.deepEqual(
      calls.map((call) => call[0]),
      ['create', 'set', 'mount', 'umount', 'start'],
    );

    // vzctl saved privvmpages 512M:576M in pages, as the kernel counts it.
    const conf = await readFile(path.join(fakeDir, 'conf/101.conf'), 'utf8');
    assert.match(conf, /^PRIVVMPAGES="131072:147456"$/m);
    assert.match(conf, /^NUMPROC="400:400"$/m);
    assert.match(conf, /^KMEMSIZE="67108864:75497472"$/m);

    const authorized = path.join(fakeDir, 'private/101/home/alice/.ssh/authorized_keys');
    const publicKey = await readFile(path.join(root, 'var/lib/crewvz/keys/alice.pub'), 'utf8');
    assert.equal(await readFile(authorized, 'utf8'), publicKey);
    assert.ok(await findHostAccount(root, 'alice'));

    await client.call('remove', [101]);
    assert.deepEqual(await client.call('list', []), []);
    assert.equal(await findHostAccount(root, 'alice'), null);
    const left = [...(await snapshotFiles(root)).keys()].filter(
      (file) => !before.has(file) && !file.startsWith('vz/'),
    );
    assert.deepEqual(left, [], 'the map file the first create made is gone too');
  });
});
