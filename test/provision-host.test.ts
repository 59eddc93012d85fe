import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';

import { findHostAccount } from '../agent/provision/host-account.ts';
import { loginShellScript } from '../agent/provision/login-shell.ts';
import { Provisioner } from '../agent/provision/provisioner.ts';
import { readMapEntries } from '../agent/provision/rewrite-map.ts';
import { StepFailedError } from '../agent/provision/steps.ts';
import { AgentCode } from '../agent/protocol.ts';
import { FakeProvisionDriver } from './helpers/provision-driver.ts';
import { makeScratchRoot, removeScratchRoot, snapshotFiles } from './helpers/scratch-root.ts';

const run = promisify(execFile);
const quiet = pino({ level: 'silent' });
const TEMPLATE = 'debian-12-x86_64.tar.gz';
const MAP = 'etc/apache2/crewvz-vhosts.map';
const MAP_TEXT = '# crewvz vhosts\n\nstaff 10.9.9.9\n';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map(removeScratchRoot));
});

interface Node {
  root: string;
  driver: FakeProvisionDriver;
  provisioner: Provisioner;
}

/** A scratch node: passwd files, a map with a comment and a foreign line, a fake ssh client. */
async function makeNode(pool = '10.0.5.0/24'): Promise<Node> {
  const root = await makeScratchRoot();
  roots.push(root);
  await mkdir(path.join(root, 'etc/apache2'), { recursive: true });
  await writeFile(path.join(root, MAP), MAP_TEXT, { mode: 0o644 });

  // The fake ssh prints one argument a line, so a test can see exactly what the shell passed on.
  const ssh = path.join(root, 'fake-ssh');
  const script = '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n';
  await writeFile(ssh, script, { mode: 0o755 });

  const driver = new FakeProvisionDriver();
  const provisioner = new Provisioner({
    config: {
      root,
      stateDir: path.join(root, 'var/lib/crewvz-agent'),
      network: {
        pool,
        nameservers: ['10.0.5.1'],
        searchdomain: 'example.edu',
        domain: 'vz.example.edu',
      },
      paths: {
        keysDir: 'var/lib/crewvz/keys',
        shellsDir: 'usr/local/lib/crewvz/shells',
        mapFile: MAP,
        ssh,
      },
      limits: { numproc: '240:240' },
    },
    driver,
    logger: quiet,
  });
  return { root, driver, provisioner };
}

async function modeOf(file: string): Promise<{ mode: number; uid: number; gid: number }> {
  const info = await stat(file);
  return { mode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
}

describe('create and remove under a scratch root', () => {
  let node: Node;
  beforeEach(async () => {
    node = await makeNode();
  });

  it('puts every piece in place with the right modes and owners', async () => {
    const { root, driver, provisioner } = node;
    const status = await provisioner.create(101, TEMPLATE, 'alice');

    assert.equal(status.state, 'running');
    assert.equal(status.address, '10.0.5.2');
    const ve = driver.ves.get(101);
    assert.equal(ve?.spec.hostname, 'alice.vz.example.edu');
    assert.deepEqual(ve?.spec.nameservers, ['10.0.5.1']);
    assert.deepEqual(ve?.spec.limits, { numproc: '240:240' });

    const account = await findHostAccount(root, 'alice');
    assert.ok(account);
    assert.equal(account.comment, 'crewvz');
    assert.equal(account.shell, '/usr/local/lib/crewvz/shells/alice');
    assert.notEqual(account.uid, 0);
    // '*': no password logs in, yet the account is not locked, so sshd takes the student's key.
    const shadow = await readFile(path.join(root, 'etc/shadow'), 'utf8');
    assert.match(shadow, /^alice:\*:/m);

    const keys = path.join(root, 'var/lib/crewvz/keys/alice');
    const owned = { uid: account.uid, gid: account.gid };
    assert.deepEqual(await modeOf(keys), { mode: 0o600, ...owned });
    assert.deepEqual(await modeOf(`${keys}.pub`), { mode: 0o644, ...owned });
    assert.deepEqual(await modeOf(`${keys}.known_hosts`), { mode: 0o600, ...owned });
    const publicKey = (await readFile(`${keys}.pub`, 'utf8')).trim();
    assert.match(publicKey, /^ssh-ed25519 \S+ crewvz:alice$/);
    assert.equal(ve?.users.get('alice'), publicKey);
    assert.match(await readFile(keys, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/);

    const shell = path.join(root, 'usr/local/lib/crewvz/shells/alice');
    assert.deepEqual(await modeOf(shell), { mode: 0o755, uid: 0, gid: 0 });

    const map = await readFile(path.join(root, MAP), 'utf8');
    assert.equal(map, `${MAP_TEXT}alice 10.0.5.2\n`);
    assert.equal((await modeOf(path.join(root, MAP))).mode, 0o644);

    const record = await provisioner.records.read(101);
    assert.equal(record?.complete, true);
    const recordFile = path.join(root, 'var/lib/crewvz-agent/provisioned/101.json');
    assert.equal((await modeOf(recordFile)).mode, 0o600);
  });

  it('writes a login shell that forwards to the VE and passes commands on intact', async () => {
    const { root, provisioner } = node;
    await provisioner.create(101, TEMPLATE, 'alice');
    const shell = path.join(root, 'usr/local/lib/crewvz/shells/alice');
    const prefix = [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-i',
      '/var/lib/crewvz/keys/alice',
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      'UserKnownHostsFile=/var/lib/crewvz/keys/alice.known_hosts',
      '-o',
      'IdentitiesOnly=yes',
      '-e',
      'none',
      '-o',
      'ClearAllForwardings=yes',
      '--',
      'alice@10.0.5.2',
    ];

    const interactive = await run(shell, []);
    assert.deepEqual(interactive.stdout.split('\n').slice(0, -1), prefix);

    const command = 'echo "a  b"; ls $HOME -l';
    const withCommand = await run(shell, ['-c', command]);
    assert.deepEqual(withCommand.stdout.split('\n').slice(0, -1), [...prefix, command]);
  });

  it('writes a login shell that reads no ssh config and never prompts', () => {
    const script = loginShellScript({
      username: 'alice',
      address: '10.0.5.2',
      privateKey: '/k/alice',
      knownHosts: '/k/alice.known_hosts',
      ssh: '/usr/bin/ssh',
    });
    const execs = script.split('\n').filter((line) => line.trim().startsWith('exec '));

    assert.equal(execs.length, 2);
    for (const line of execs) {
      const options = line.slice(0, line.indexOf(' -- '));
      assert.match(options, /^\s*exec \/usr\/bin\/ssh -F \/dev\/null -o BatchMode=yes -i /);
      assert.match(options, / -o IdentitiesOnly=yes /);
    }
  });

  it('refuses to write anything but whitelisted values into a login shell', () => {
    const good = {
      username: 'alice',
      address: '10.0.5.1',
      privateKey: '/k/alice',
      knownHosts: '/k/alice.known_hosts',
      ssh: '/usr/bin/ssh',
    };
    assert.doesNotThrow(() => loginShellScript(good));
    for (const bad of [
      { username: 'alice;reboot' },
      { username: '$(id)' },
      { address: '10.0.5.1 -oProxyCommand=x' },
      { address: '10.0.5.01' },
      { privateKey: '/k/a b' },
      { ssh: 'ssh' },
      { knownHosts: '/k/../../etc/x' },
    ]) {
      assert.throws(() => loginShellScript({ ...good, ...bad }), /username|address|path/);
    }
  });

  it('removes every piece, keeping the rest of the map, and frees the address', async () => {
    const { root, driver, provisioner } = node;
    const before = await snapshotFiles(root);
    await provisioner.create(101, TEMPLATE, 'alice');
    await provisioner.remove(101);

    assert.equal(driver.ves.size, 0);
    assert.equal(await findHostAccount(root, 'alice'), null);

    // Everything is as before but the crewvz group, which stays (empty) for the next account.
    const afterRemove = await snapshotFiles(root);
    for (const file of ['etc/group', 'etc/gshadow']) {
      const added = afterRemove.get(file)?.replace(before.get(file) ?? '', '');
      assert.match(added ?? '', /^crewvz:[^:]*:[^:]*:\n$/, file);
      afterRemove.set(file, before.get(file) ?? '');
    }
    assert.deepEqual(afterRemove, before);

    const again = await provisioner.create(102, TEMPLATE, 'bob');
    assert.equal(again.address, '10.0.5.2');
  });

  it("gives a removed user's next owner fresh keys and none of the old files", async () => {
    const { root, driver, provisioner } = node;
    const keys = path.join(root, 'var/lib/crewvz/keys');
    await provisioner.create(101, TEMPLATE, 'alice');
    const oldPrivate = await readFile(path.join(keys, 'alice'), 'utf8');
    const oldPublic = await readFile(path.join(keys, 'alice.pub'), 'utf8');
    // What the old owner's logins left: the VE's host key.
    await writeFile(path.join(keys, 'alice.known_hosts'), '10.0.5.2 ssh-ed25519 AAAAold\n');
    await provisioner.remove(101);

    await provisioner.create(102, TEMPLATE, 'alice');
    const newPrivate = await readFile(path.join(keys, 'alice'), 'utf8');
    const newPublic = await readFile(path.join(keys, 'alice.pub'), 'utf8');

    assert.notEqual(newPrivate, oldPrivate);
    assert.notEqual(newPublic, oldPublic);
    assert.equal(await readFile(path.join(keys, 'alice.known_hosts'), 'utf8'), '');
    assert.equal(driver.ves.get(102)?.users.get('alice'), newPublic.trim());
    assert.deepEqual((await readdir(keys)).sort(), ['alice', 'alice.known_hosts', 'alice.pub']);
    assert.deepEqual((await provisioner.records.list()).map((record) => record.id), [102]);
  });

  it('keeps the record when a piece cannot be removed, so remove can be run again', async () => {
    const { root, driver, provisioner } = node;
    await provisioner.create(101, TEMPLATE, 'alice');
    const passwd = path.join(root, 'etc/passwd');
    const original = await readFile(passwd, 'utf8');
    await writeFile(passwd, original.replace(':crewvz:', ':hand-edited:'));

    await assert.rejects(provisioner.remove(101), {
      code: AgentCode.STEP_FAILED,
      message: /host account: host account alice was not made by crewvz/,
    });
    assert.equal(driver.ves.size, 0);
    assert.ok(await provisioner.records.read(101));
    assert.equal((await readMapEntries(path.join(root, MAP))).has('alice'), false);

    await writeFile(passwd, original);
    await provisioner.remove(101);
    assert.equal(await provisioner.records.read(101), null);
    assert.equal(await findHostAccount(root, 'alice'), null);
  });

  it('removes a VE the agent did not provision with the driver alone', async () => {
    const { driver, provisioner } = node;
    driver.ves.set(150, {
      spec: {
        id: 150,
        template: TEMPLATE,
        hostname: 'old',
        address: '10.0.5.50',
        nameservers: [],
        searchdomain: null,
        limits: {},
      },
      running: true,
      users: new Map(),
    });
    await provisioner.remove(150);
    assert.equal(driver.ves.size, 0);
  });
});

describe('rollback at each step', () => {
  /**
   * Each entry breaks one step for real where it can (a path blocked by a file, an account or
   * map line someone else owns) and through the driver where only vzctl could fail.
   */
  const breakers: Record<string, (node: Node) => Promise<void>> = {
    'reserve address': async ({ root }) => {
      await mkdir(path.join(root, 'var/lib/crewvz-agent'), { recursive: true });
      await writeFile(path.join(root, 'var/lib/crewvz-agent/provisioned'), 'not a directory');
    },
    'vzctl create': async ({ driver }) => {
      driver.fail.add('create');
    },
    'ssh key pair': async ({ root }) => {
      await mkdir(path.join(root, 'var/lib/crewvz'), { recursive: true });
      await writeFile(path.join(root, 'var/lib/crewvz/keys'), 'not a directory');
    },
    'VE user': async ({ driver }) => {
      driver.fail.add('addUser');
    },
    'login shell': async ({ root }) => {
      await mkdir(path.join(root, 'usr/local/lib/crewvz'), { recursive: true });
      await writeFile(path.join(root, 'usr/local/lib/crewvz/shells'), 'not a directory');
    },
    'host account': async ({ root }) => {
      const passwd = path.join(root, 'etc/passwd');
      const line = 'alice:x:1500:1500:someone else:/home/alice:/bin/sh\n';
      await writeFile(passwd, (await readFile(passwd, 'utf8')) + line);
    },
    'map entry': async ({ root }) => {
      await writeFile(path.join(root, MAP), `${MAP_TEXT}alice 10.9.9.10\n`);
    },
    'vzctl start': async ({ driver }) => {
      driver.fail.add('start');
    },
  };

  for (const [step, breakIt] of Object.entries(breakers)) {
    it(`leaves nothing behind when "${step}" fails`, async () => {
      const node = await makeNode();
      await breakIt(node);
      const before = await snapshotFiles(node.root);

      const error = await node.provisioner
        .create(101, TEMPLATE, 'alice')
        .catch((caught: unknown) => caught);

      assert.ok(error instanceof StepFailedError, String(error));
      assert.equal(error.step, step);
      assert.deepEqual(error.undoFailures, []);
      assert.equal(node.driver.ves.size, 0);
      assert.deepEqual(await snapshotFiles(node.root), before);
    });
  }

  it('answers STEP_FAILED for host steps and vzctl status for vzctl steps', async () => {
    const hostFailure = await makeNode();
    await breakers['login shell']?.(hostFailure);
    await assert.rejects(hostFailure.provisioner.create(101, TEMPLATE, 'alice'), {
      code: AgentCode.STEP_FAILED,
    });

    const vzctlFailure = await makeNode();
    await assert.rejects(vzctlFailure.provisioner.create(101, 'no-such.tar.gz', 'alice'), {
      code: 91,
      step: 'vzctl create',
    });
  });
});

describe('address ledger', () => {
  it('gives ten concurrent creates ten distinct addresses and ten host accounts', async () => {
    const { root, provisioner } = await makeNode();
    const ids = Array.from({ length: 10 }, (_, index) => 101 + index);

    const made = await Promise.all(
      ids.map((id) => provisioner.create(id, TEMPLATE, `user${id}`)),
    );

    assert.equal(new Set(made.map((status) => status.address)).size, 10);
    const uids = new Set<number>();
    for (const id of ids) {
      const account = await findHostAccount(root, `user${id}`);
      assert.ok(account, `user${id} has a host account`);
      uids.add(account.uid);
    }
    assert.equal(uids.size, 10);
    assert.equal((await readMapEntries(path.join(root, MAP))).size, 11);
  });

  it('never reuses the address of a stopped VE', async () => {
    // The nameserver 10.0.5.1 is outside the pool, so only the driver's view and the records
    // decide what is taken.
    const { driver, provisioner } = await makeNode('10.0.5.2-10.0.5.4');
    driver.ves.set(150, {
      spec: {
        id: 150,
        template: TEMPLATE,
        hostname: 'made-by-hand',
        address: '10.0.5.2',
        nameservers: [],
        searchdomain: null,
        limits: {},
      },
      running: false,
      users: new Map(),
    });

    const first = await provisioner.create(101, TEMPLATE, 'alice');
    assert.equal(first.address, '10.0.5.3');
    // A stopped VE whose record is gone (made by an older agent, say): only the driver knows.
    await driver.stop(101);
    await provisioner.records.delete(101);

    const second = await provisioner.create(102, TEMPLATE, 'bob');
    assert.equal(second.address, '10.0.5.4');
    await assert.rejects(provisioner.create(103, TEMPLATE, 'carol'), {
      step: 'reserve address',
      message: /no free address left in network\.pool 10\.0\.5\.2-10\.0\.5\.4/,
    });
  });

  it("refuses a username whose login key no record lists, leaving it and all else", async () => {
    const { root, driver, provisioner } = await makeNode();
    const stale = path.join(root, 'etc/crewvz/authorized_keys/alice');
    await mkdir(path.dirname(stale), { recursive: true });
    await writeFile(stale, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old@owner\n');
    const before = await snapshotFiles(root);

    await assert.rejects(provisioner.create(101, TEMPLATE, 'alice'), {
      step: 'reserve address',
      message: /authorized_keys\/alice already exists; remove the old owner's files/,
    });
    assert.deepEqual([...driver.ves.keys()], []);
    assert.deepEqual(await snapshotFiles(root), before);
  });

  it('refuses a username that already owns a VE before touching anything', async () => {
    const { root, driver, provisioner } = await makeNode();
    await provisioner.create(101, TEMPLATE, 'alice');
    const before = await snapshotFiles(root);

    await assert.rejects(provisioner.create(102, TEMPLATE, 'alice'), {
      step: 'reserve address',
      message: /alice already owns VE 101/,
    });
    assert.deepEqual([...driver.ves.keys()], [101]);
    assert.deepEqual(await snapshotFiles(root), before);
  });
});
