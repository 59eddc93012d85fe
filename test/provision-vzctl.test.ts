import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

import { SAFE_PATH } from '../agent/run.ts';
import { Provisioner } from '../agent/provision/provisioner.ts';
import { createVzctlDriver, type ProvisioningDriver } from '../agent/vzctl.ts';
import { makeScratchRoot, removeScratchRoot, snapshotFiles } from './helpers/scratch-root.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/fake-vz');
const quiet = pino({ level: 'silent' });

let root: string;
let fakeDir: string;
let provisioner: Provisioner;
let vzctl: ProvisioningDriver;

before(async () => {
  root = await makeScratchRoot();
  fakeDir = path.join(root, 'vz');
  await mkdir(path.join(fakeDir, 'template/cache'), { recursive: true });
  await writeFile(path.join(fakeDir, 'template/cache/debian-12.tar.gz'), '');

  vzctl = createVzctlDriver({
    vzctl: path.join(FAKE, 'vzctl'),
    vzlist: path.join(FAKE, 'vzlist'),
    beancounters: path.join(fakeDir, 'user_beancounters'),
    templatesDir: path.join(fakeDir, 'template/cache'),
    logger: quiet,
    env: { FAKE_VZ_DIR: fakeDir, PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}` },
  });

  provisioner = new Provisioner({
    config: {
      root,
      stateDir: path.join(root, 'var/lib/crewvz-agent'),
      network: {
        pool: '10.0.5.1-10.0.5.3',
        nameservers: [],
        searchdomain: null,
        domain: 'vz.lab',
      },
      paths: {
        keysDir: 'var/lib/crewvz/keys',
        shellsDir: 'usr/local/lib/crewvz/shells',
        mapFile: 'etc/apache2/crewvz-vhosts.map',
        ssh: '/usr/bin/ssh',
      },
      limits: {},
    },
    driver: vzctl,
    logger: quiet,
  });
});

after(async () => {
  await vzctl.close();
  await removeScratchRoot(root);
});

describe('provisioning over the vzctl driver and the fake vzctl', () => {
  it('skips addresses of stopped VEs that only vzlist knows, and removes all', async () => {
    const before = await snapshotFiles(root);
    const first = await provisioner.create(101, 'debian-12', 'alice');
    assert.equal(first.state, 'running');
    assert.equal(first.address, '10.0.5.1');
    // The VE user came from useradd --root on the mounted VE; the VE was unmounted to start.
    const keyFile = path.join(fakeDir, 'private/101/home/alice/.ssh/authorized_keys');
    const keys = await readFile(keyFile, 'utf8');
    const publicKey = await readFile(path.join(root, 'var/lib/crewvz/keys/alice.pub'), 'utf8');
    assert.equal(keys, publicKey);
    assert.equal((await stat(keyFile)).uid, 1000);
    const passwd = await readFile(path.join(fakeDir, 'private/101/etc/passwd'), 'utf8');
    assert.match(passwd, /^alice:x:1000:1000:crewvz:\/home\/alice:/m);
    await vzctl.stop(101);

    // A VE made by hand, never started: its address lives only in its saved config.
    await vzctl.create({
      id: 150,
      template: 'debian-12',
      hostname: 'by-hand',
      address: '10.0.5.2',
      nameservers: [],
      searchdomain: null,
      limits: {},
    });
    const second = await provisioner.create(102, 'debian-12', 'bob');
    assert.equal(second.address, '10.0.5.3');

    for (const id of [101, 102, 150]) {
      await provisioner.remove(id);
    }
    assert.deepEqual(await vzctl.list(), []);
    const left = [...(await snapshotFiles(root)).keys()].filter(
      (file) => !before.has(file) && !file.startsWith('vz/'),
    );
    assert.deepEqual(left, [], 'the map file the first create made is gone too');
  });

  it('stops a running VE once on remove, then destroys it', async () => {
    await provisioner.create(103, 'debian-12', 'carol');
    const mark = (await vzctlCalls()).length;

    await provisioner.remove(103);
    const actions = (await vzctlCalls()).slice(mark)
      .filter((argv) => argv[1] !== 'status')
      .map((argv) => argv[1]);
    assert.deepEqual(actions, ['stop', 'destroy']);
  });
});

/** The fake vzctl's calls (vzlist's left out), one argv each, oldest first. */
async function vzctlCalls(): Promise<string[][]> {
  const text = await readFile(path.join(fakeDir, 'calls.log'), 'utf8');
  return text.trim().split('\n').map((line) => JSON.parse(line) as string[])
    .filter((argv) => path.basename(argv[0] ?? '') === 'vzctl');
}
