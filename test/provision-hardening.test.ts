/**
 * The root agent against a hostile host filesystem, and host accounts that cannot be used as a
 * tunnel: planted symlinks and hard links are refused, never followed; unsafe directories stop
 * the agent at start; every account is in the crewvz group that sshd's Match block names.
 */
import assert from 'node:assert/strict';
import { chmod, chown, link, lstat, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';

import { AgentConfigError, buildConfig } from '../agent/config.ts';
import { provisioningHandlers } from '../agent/provision/commands.ts';
import { findGroup, findHostAccount } from '../agent/provision/host-account.ts';
import { generateKeyPair, giveKeyPair, keyPaths } from '../agent/provision/keys.ts';
import { writeLoginShell } from '../agent/provision/login-shell.ts';
import { Provisioner } from '../agent/provision/provisioner.ts';
import { addMapEntry } from '../agent/provision/rewrite-map.ts';
import { FakeProvisionDriver } from './helpers/provision-driver.ts';
import { makeScratchRoot, removeScratchRoot } from './helpers/scratch-root.ts';

const quiet = pino({ level: 'silent' });
const TEMPLATE = 'debian-12-x86_64.tar.gz';
const KEYS = 'var/lib/crewvz/keys';
const roots: string[] = [];

after(async () => {
  await Promise.all(roots.map(removeScratchRoot));
});

async function scratch(): Promise<string> {
  const root = await makeScratchRoot();
  roots.push(root);
  return root;
}

function provisionerFor(root: string, driver = new FakeProvisionDriver()): Provisioner {
  return new Provisioner({
    config: {
      root,
      stateDir: path.join(root, 'var/lib/crewvz-agent'),
      network: { pool: '10.0.5.0/24', nameservers: [], searchdomain: null, domain: 'vz.lab' },
      paths: {
        keysDir: KEYS,
        shellsDir: 'usr/local/lib/crewvz/shells',
        mapFile: 'etc/apache2/crewvz-vhosts.map',
        ssh: '/usr/bin/ssh',
      },
      limits: {},
    },
    driver,
    logger: quiet,
    hostAddresses: () => [],
  });
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

describe('planted links in the directories the agent writes', () => {
  it('refuses a create whose known_hosts is a dangling symlink, creating nothing', async () => {
    const root = await scratch();
    const evil = path.join(root, 'evil.sh');
    await mkdir(path.join(root, KEYS), { recursive: true });
    await symlink(evil, path.join(root, KEYS, 'mallory.known_hosts'));

    await assert.rejects(provisionerFor(root).create(101, TEMPLATE, 'mallory'), {
      step: 'ssh key pair',
      message: /mallory\.known_hosts already exists/,
    });
    assert.equal(await exists(evil), false);
    assert.equal(await findHostAccount(root, 'mallory'), null);
  });

  it('hands over no file through a link planted after the keys were made', async () => {
    const root = await scratch();
    const paths = keyPaths(path.join(root, KEYS), 'alice');
    await generateKeyPair(paths, 'alice');

    // A dangling symlink where known_hosts goes: O_EXCL refuses it, the target never appears.
    const evil = path.join(root, 'evil.sh');
    await symlink(evil, paths.knownHosts);
    await assert.rejects(giveKeyPair(paths, 4242, 4242), { code: 'EEXIST' });
    assert.equal(await exists(evil), false);

    // The private key swapped for a link to a root file: refused, the file keeps its owner.
    const secret = path.join(root, 'etc/shadow');
    await rm(paths.privateKey);
    await symlink(secret, paths.privateKey);
    await assert.rejects(giveKeyPair(paths, 4242, 4242), /is a symlink/);
    await rm(paths.privateKey);
    await link(secret, paths.privateKey);
    await assert.rejects(giveKeyPair(paths, 4242, 4242), /not a plain file of its own/);
    assert.equal((await stat(secret)).uid, 0);
  });

  it('writes no login shell through a dangling symlink', async () => {
    const root = await scratch();
    const shells = path.join(root, 'usr/local/lib/crewvz/shells');
    await mkdir(shells, { recursive: true });
    const evil = path.join(root, 'evil.sh');
    await symlink(evil, path.join(shells, 'alice'));
    const spec = {
      username: 'alice',
      address: '10.0.5.2',
      privateKey: '/var/lib/crewvz/keys/alice',
      knownHosts: '/var/lib/crewvz/keys/alice.known_hosts',
      ssh: '/usr/bin/ssh',
    };

    await assert.rejects(writeLoginShell(path.join(shells, 'alice'), spec), { code: 'EEXIST' });
    assert.equal(await exists(evil), false);
  });

  it('does not copy a linked file into the RewriteMap', async () => {
    const root = await scratch();
    const map = path.join(root, 'etc/apache2/crewvz-vhosts.map');
    await mkdir(path.dirname(map), { recursive: true });
    await symlink(path.join(root, 'etc/shadow'), map);

    await assert.rejects(addMapEntry(map, 'alice', '10.0.5.2'), /is a symlink/);
    assert.ok((await lstat(map)).isSymbolicLink());
  });
});

describe('directory checks at start', () => {
  async function startWith(root: string) {
    const { config } = buildConfig(
      {
        name: 'node1',
        pki: '/etc/crewvz/pki',
        driver: 'sim',
        root,
        stateDir: path.join(root, 'var/lib/crewvz-agent'),
        network: { pool: '10.0.5.0/24', domain: 'vz.lab' },
      },
      root,
    );
    return provisioningHandlers(config, quiet);
  }

  async function refusedWith(root: string, pattern: RegExp): Promise<void> {
    await assert.rejects(startWith(root), (error: unknown) => {
      assert.ok(error instanceof AgentConfigError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  }

  it('starts with root-owned directories, made or not yet made', async () => {
    const root = await scratch();
    assert.ok((await startWith(root)).create);
    await mkdir(path.join(root, KEYS), { recursive: true, mode: 0o755 });
    assert.ok((await startWith(root)).create);
  });

  it('refuses a keys directory others can write, naming it and the chmod', async () => {
    const root = await scratch();
    const keys = path.join(root, KEYS);
    await mkdir(keys, { recursive: true });
    await chmod(keys, 0o1777);
    await refusedWith(root, new RegExp(`^provision\\.keysDir: ${keys} is writable .*chmod go-w`));
  });

  it('refuses a shells directory owned by someone else, naming the chown', async () => {
    const root = await scratch();
    const shells = path.join(root, 'usr/local/lib/crewvz/shells');
    await mkdir(shells, { recursive: true });
    await chown(shells, 4242, 4242);
    await refusedWith(root, /^provision\.shellsDir: .*uid 4242, not root.*chown root:root/);
  });

  it('refuses a group-writable directory on the way to the map file or the stateDir', async () => {
    const root = await scratch();
    await mkdir(path.join(root, 'etc/apache2'));
    await chmod(path.join(root, 'etc'), 0o775);
    await refusedWith(root, /^provision\.mapFile: .*\/etc \(on the way to .*apache2\)/);

    await chmod(path.join(root, 'etc'), 0o755);
    await mkdir(path.join(root, 'var/lib/crewvz-agent'), { recursive: true, mode: 0o770 });
    await chmod(path.join(root, 'var/lib/crewvz-agent'), 0o770);
    await refusedWith(root, /^stateDir: .*crewvz-agent is writable/);
  });
});

describe('the crewvz group', () => {
  it('holds every host account; a rolled-back first create takes it away again', async () => {
    const root = await scratch();
    const driver = new FakeProvisionDriver();
    const provisioner = provisionerFor(root, driver);

    driver.fail.add('start');
    await assert.rejects(provisioner.create(101, TEMPLATE, 'alice'), { step: 'vzctl start' });
    assert.equal(await findGroup(root, 'crewvz'), null);

    await provisioner.create(102, TEMPLATE, 'alice');
    await provisioner.create(103, TEMPLATE, 'bob');
    assert.deepEqual((await findGroup(root, 'crewvz'))?.members, ['alice', 'bob']);

    // A later create's rollback keeps the group: it was there before and others are in it.
    driver.fail.add('start');
    await assert.rejects(provisioner.create(104, TEMPLATE, 'carol'), { step: 'vzctl start' });
    assert.deepEqual((await findGroup(root, 'crewvz'))?.members, ['alice', 'bob']);

    await provisioner.remove(102);
    await provisioner.remove(103);
    assert.deepEqual((await findGroup(root, 'crewvz'))?.members, []);
    assert.match(await readFile(path.join(root, 'etc/group'), 'utf8'), /^crewvz:x:\d+:$/m);
  });
});
