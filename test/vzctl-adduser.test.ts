/**
 * The vzctl driver's addUser against the fake vzctl: vzctl mount, the real `useradd --root` on
 * the mounted VE's root, authorized_keys with the VE user's ownership, vzctl umount (also when
 * a step fails), and remove of a VE left mounted.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

import { DriverError } from '../agent/driver.ts';
import { AgentCode } from '../agent/protocol.ts';
import { SAFE_PATH } from '../agent/run.ts';
import { createVzctlDriver, type ProvisioningDriver } from '../agent/vzctl.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/fake-vz');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx1bm9ueW1vdXNrZXlmb3J0ZXN0aW5nb25seQ crewvz:t';
const quiet = pino({ level: 'silent' });

let dir: string;
let fakeDir: string;
const drivers: ProvisioningDriver[] = [];

function driverWith(extraEnv: Record<string, string> = {}): ProvisioningDriver {
  const driver = createVzctlDriver({
    vzctl: path.join(FAKE, 'vzctl'),
    vzlist: path.join(FAKE, 'vzlist'),
    beancounters: path.join(fakeDir, 'user_beancounters'),
    templatesDir: path.join(fakeDir, 'template/cache'),
    logger: quiet,
    env: {
      FAKE_VZ_DIR: fakeDir,
      PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}`,
      ...extraEnv,
    },
  });
  drivers.push(driver);
  return driver;
}

async function createVe(driver: ProvisioningDriver, id: number): Promise<void> {
  await driver.create({
    id,
    template: 'debian-12',
    hostname: `ve${id}.lab`,
    address: `10.9.0.${id - 100}`,
    nameservers: [],
    searchdomain: null,
    limits: {},
  });
}

/** The vzctl calls the fake logged for one VE, as "action" words. */
async function vzctlActions(id: number): Promise<string[]> {
  const log = await readFile(path.join(fakeDir, 'calls.log'), 'utf8');
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[])
    .filter((call) => call[0] === 'vzctl' && call[2] === String(id))
    .map((call) => call[1] as string);
}

async function isMounted(id: number): Promise<boolean> {
  return lstat(path.join(fakeDir, 'root', String(id))).then(
    () => true,
    () => false,
  );
}

const privateArea = (id: number, ...parts: string[]): string =>
  path.join(fakeDir, 'private', String(id), ...parts);

function rejectsWith(code: number, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof DriverError, `expected a DriverError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.lines.join('\n'), pattern);
    return true;
  };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-adduser-'));
  fakeDir = path.join(dir, 'vz');
  await mkdir(path.join(fakeDir, 'template/cache'), { recursive: true });
  await writeFile(path.join(fakeDir, 'template/cache/debian-12.tar.gz'), '');
});

after(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('vzctl driver addUser', () => {
  it('mounts, adds the user with useradd --root, installs the key and unmounts', async () => {
    const driver = driverWith();
    await createVe(driver, 101);
    await driver.addUser(101, 'alice', KEY);

    const passwd = await readFile(privateArea(101, 'etc/passwd'), 'utf8');
    const line = passwd.split('\n').find((entry) => entry.startsWith('alice:'));
    assert.match(line ?? '', /^alice:x:1000:1000:crewvz:\/home\/alice:\/bin\/bash$/);
    assert.match(await readFile(privateArea(101, 'etc/shadow'), 'utf8'), /^alice:/m);

    const sshDir = await lstat(privateArea(101, 'home/alice/.ssh'));
    assert.equal(sshDir.mode & 0o7777, 0o700);
    assert.deepEqual([sshDir.uid, sshDir.gid], [1000, 1000]);
    const keyFile = privateArea(101, 'home/alice/.ssh/authorized_keys');
    const keyStat = await lstat(keyFile);
    assert.equal(keyStat.mode & 0o7777, 0o600);
    assert.deepEqual([keyStat.uid, keyStat.gid], [1000, 1000]);
    assert.equal(await readFile(keyFile, 'utf8'), `${KEY}\n`);

    assert.deepEqual(await vzctlActions(101), ['create', 'mount', 'umount']);
    assert.equal(await isMounted(101), false);
    const started = await driver.start(101);
    assert.equal(started.state, 'running');
    await driver.remove(101);
  });

  it('refuses a user the template already has, and still unmounts', async () => {
    const driver = driverWith();
    await createVe(driver, 102);

    await assert.rejects(
      driver.addUser(102, 'nobody', KEY),
      rejectsWith(AgentCode.STEP_FAILED, /user nobody already exists inside VE 102/),
    );
    assert.deepEqual(await vzctlActions(102), ['create', 'mount', 'umount']);
    assert.equal(await isMounted(102), false);
    await driver.remove(102);
  });

  it('never writes through a home that leads outside the VE', async () => {
    const driver = driverWith();
    await createVe(driver, 103);
    // An absolute link: inside the VE it names the VE's own folder, on the host the host's.
    const outside = path.join(dir, 'host-home');
    await mkdir(path.join(outside, 'carol'), { recursive: true });
    await mkdir(privateArea(103, outside), { recursive: true });
    await symlink(outside, privateArea(103, 'home'));

    await assert.rejects(
      driver.addUser(103, 'carol', KEY),
      rejectsWith(AgentCode.STEP_FAILED, /home \/home\/carol in VE 103 leads outside the VE/),
    );
    assert.deepEqual(await readdir(outside), ['carol']);
    assert.deepEqual(await readdir(path.join(outside, 'carol')), []);
    assert.equal(await isMounted(103), false);
    await driver.remove(103);
  });

  it('passes a mount failure on with vzctl status and touches nothing', async () => {
    await createVe(driverWith(), 104);
    const driver = driverWith({ FAKE_VZ_FAIL: 'mount:3' });

    await assert.rejects(
      driver.addUser(104, 'dave', KEY),
      rejectsWith(3, /Unable to lock container/),
    );
    assert.doesNotMatch(await readFile(privateArea(104, 'etc/passwd'), 'utf8'), /dave/);
    assert.deepEqual(await vzctlActions(104), ['create', 'mount']);
    await driver.remove(104);
  });

  it('reports an unmount that fails after the user was added', async () => {
    await createVe(driverWith(), 105);
    const driver = driverWith({ FAKE_VZ_FAIL: 'umount:3' });

    await assert.rejects(
      driver.addUser(105, 'erin', KEY),
      rejectsWith(3, /Unable to lock container/),
    );
    assert.equal(await isMounted(105), true);

    // An agent that died here leaves the VE mounted; remove still takes it away.
    await driverWith().remove(105);
    assert.equal(await isMounted(105), false);
    assert.deepEqual(await driverWith().list(), []);
  });

  it('refuses a public key of more than one line before touching the VE', async () => {
    const driver = driverWith();
    await assert.rejects(
      driver.addUser(106, 'frank', `${KEY}\nssh-ed25519 AAAA other`),
      rejectsWith(AgentCode.INVALID_ARGUMENTS, /one line/),
    );
    assert.deepEqual(await vzctlActions(106), []);
  });
});
