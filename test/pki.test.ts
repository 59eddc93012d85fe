import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const CLI = path.resolve(import.meta.dirname, '../src/cli.ts');
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function crewvz(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env: { ...process.env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ status, stdout, stderr });
      },
    );
  });
}

async function certOf(file: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(file));
}

async function entries(dir: string): Promise<number> {
  return (await readdir(dir)).length;
}

async function modeOf(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

describe('crewvz pki', () => {
  let root: string;
  let dir: string;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-pki-'));
    dir = path.join(root, 'pki');
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('init writes the CA and a clientAuth-only bot certificate, keys 0600', async () => {
    const run = await crewvz('pki', 'init', '--dir', dir);
    assert.equal(run.status, 0, run.stderr);
    for (const name of ['ca.crt', 'ca.key', 'bot.crt', 'bot.key']) {
      assert.match(run.stdout, new RegExp(`wrote .*${name.replace('.', '\\.')}`));
    }
    assert.equal(await modeOf(path.join(dir, 'ca.key')), 0o600);
    assert.equal(await modeOf(path.join(dir, 'bot.key')), 0o600);

    const ca = await certOf(path.join(dir, 'ca.crt'));
    const bot = await certOf(path.join(dir, 'bot.crt'));
    assert.equal(ca.ca, true);
    assert.equal(bot.ca, false);
    assert.ok(bot.verify(ca.publicKey), 'the CA signed the bot certificate');
    assert.deepEqual(bot.keyUsage, [CLIENT_AUTH]);
    assert.match(bot.subject, /CN=crewvz-bot/);
  });

  it('issue-agent writes a serverAuth-only cert for the node, its DNS names and IPs', async () => {
    const run = await crewvz(
      'pki', 'issue-agent', 'node7', '--dir', dir,
      '--ip', '10.0.0.7', '--ip', '2001:db8::7', '--dns', 'node7.example.org',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote .*node7\.crt/);
    assert.equal(await modeOf(path.join(dir, 'node7.key')), 0o600);

    const agent = await certOf(path.join(dir, 'node7.crt'));
    const ca = await certOf(path.join(dir, 'ca.crt'));
    assert.ok(agent.verify(ca.publicKey));
    assert.deepEqual(agent.keyUsage, [SERVER_AUTH]);
    const san = agent.subjectAltName ?? '';
    for (const part of ['DNS:node7', 'DNS:node7.example.org', 'IP Address:10.0.0.7']) {
      assert.ok(san.includes(part), `${part} in ${san}`);
    }
    assert.match(san, /IP Address:2001:DB8:0:0:0:0:0:7/i);
    assert.equal(agent.checkHost('node7'), 'node7');
    assert.equal(agent.checkIP('10.0.0.7'), '10.0.0.7');
  });

  it('refuses to overwrite without --force, naming the file', async () => {
    const before = await readFile(path.join(dir, 'ca.crt'), 'utf8');
    const init = await crewvz('pki', 'init', '--dir', dir);
    assert.equal(init.status, 1);
    assert.match(init.stderr, /ca\.crt already exists; use --force to replace it/);

    const issue = await crewvz('pki', 'issue-agent', 'node7', '--dir', dir);
    assert.equal(issue.status, 1);
    assert.match(issue.stderr, /node7\.crt already exists; use --force/);
    assert.equal(await readFile(path.join(dir, 'ca.crt'), 'utf8'), before);
  });

  it('refuses ca and bot as node names, even with --force, and leaves the CA alone', async () => {
    const files = ['ca.crt', 'ca.key', 'bot.crt', 'bot.key'];
    const before = await Promise.all(files.map((file) => readFile(path.join(dir, file), 'utf8')));
    const runs = await Promise.all(
      ['ca', 'bot'].map((name) => crewvz('pki', 'issue-agent', name, '--dir', dir, '--force')),
    );
    for (const [index, name] of ['ca', 'bot'].entries()) {
      const run = runs[index] as Run;
      assert.equal(run.status, 1, run.stdout);
      assert.match(run.stderr, new RegExp(`node name '${name}' is taken by the PKI's own files`));
      assert.doesNotMatch(run.stderr, /--force/);
    }
    const after = await Promise.all(files.map((file) => readFile(path.join(dir, file), 'utf8')));
    assert.deepEqual(after, before);
  });

  it('replaces files with --force', async () => {
    const before = await readFile(path.join(dir, 'node7.crt'), 'utf8');
    const run = await crewvz('pki', 'issue-agent', 'node7', '--dir', dir, '--force');
    assert.equal(run.status, 0, run.stderr);
    assert.notEqual(await readFile(path.join(dir, 'node7.crt'), 'utf8'), before);
    assert.equal(await modeOf(path.join(dir, 'node7.key')), 0o600);
  });

  it('rejects bad names and addresses with a usage error', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['issue-agent', '../evil', '--dir', dir], /not a hostname label/],
      [['issue-agent', 'Node_1', '--dir', dir], /not a hostname label/],
      [['issue-agent', 'n1', '--dir', dir, '--ip', '300.1.1.1'], /not an IPv4 or IPv6/],
      [['issue-agent', 'n1', '--dir', dir, '--dns', 'a b'], /not a DNS name/],
      [['issue-agent', '--dir', dir], /exactly one NAME/],
      [['init'], /--dir DIR is required/],
      [['frobnicate', '--dir', dir], /unknown action/],
      [['init', '--dir', dir, '--bogus'], /Unknown option/],
    ];
    const runs = await Promise.all(cases.map(([args]) => crewvz('pki', ...args)));
    runs.forEach((run, index) => {
      const [args, message] = cases[index] as [string[], RegExp];
      assert.notEqual(run.status, 0, args.join(' '));
      assert.match(run.stderr, message, args.join(' '));
    });
  });

  it('replaces a symlink at a key path with the key, never writing through it', async () => {
    const victim = path.join(root, 'victim.txt');
    await writeFile(victim, 'not a key\n', { mode: 0o644 });
    const keyFile = path.join(dir, 'node8.key');
    await symlink(victim, keyFile);

    const refused = await crewvz('pki', 'issue-agent', 'node8', '--dir', dir);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /node8\.key already exists; use --force/);

    const run = await crewvz('pki', 'issue-agent', 'node8', '--dir', dir, '--force');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(await readFile(victim, 'utf8'), 'not a key\n');
    const info = await lstat(keyFile);
    assert.ok(info.isFile(), 'the symlink was replaced by a regular file');
    assert.equal(info.mode & 0o777, 0o600);
    assert.match(await readFile(keyFile, 'utf8'), /PRIVATE KEY/);
  });

  it('--force over a 0644 key: the new key goes into a fresh 0600 file only', async () => {
    const keyFile = path.join(dir, 'node9.key');
    await writeFile(keyFile, 'old key\n', { mode: 0o644 });
    await chmod(keyFile, 0o644);
    // A second name for the old, world-readable file: it must never receive the new key.
    const oldInode = path.join(root, 'node9.key.old');
    await link(keyFile, oldInode);

    const run = await crewvz('pki', 'issue-agent', 'node9', '--dir', dir, '--force');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(await readFile(oldInode, 'utf8'), 'old key\n');
    assert.notEqual((await stat(keyFile)).ino, (await stat(oldInode)).ino);
    assert.equal(await modeOf(keyFile), 0o600);
    assert.match(await readFile(keyFile, 'utf8'), /PRIVATE KEY/);

    const leftovers = (await readdir(dir)).filter((name) => name.startsWith('.'));
    assert.deepEqual(leftovers, [], 'no temporary file is left behind');
  });

  it('refuses a PKI folder others may write to, saying the chmod to run', async () => {
    const open = path.join(root, 'open');
    await mkdir(open);
    await chmod(open, 0o775);
    const run = await crewvz('pki', 'init', '--dir', open);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /may be written by others \(mode 775\); run 'chmod go-w /);
    assert.equal(await entries(open), 0);

    await chmod(dir, 0o777);
    const issue = await crewvz('pki', 'issue-agent', 'node10', '--dir', dir);
    await chmod(dir, 0o700);
    assert.equal(issue.status, 1);
    assert.match(issue.stderr, /chmod go-w/);
  });

  it('refuses a PKI folder that belongs to someone else, saying the chown to run', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to give a folder to another user');
      return;
    }
    const foreign = path.join(root, 'foreign');
    await mkdir(foreign, { mode: 0o700 });
    await chown(foreign, 4242, 4242);
    const run = await crewvz('pki', 'init', '--dir', foreign);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /belongs to uid 4242, not to you \(uid 0\); run 'chown 0 /);
    assert.equal(await entries(foreign), 0);
  });

  it('issue-agent without a CA says to run init first', async () => {
    const run = await crewvz('pki', 'issue-agent', 'n1', '--dir', path.join(root, 'empty'));
    assert.equal(run.status, 1);
    assert.match(run.stderr, /crewvz pki init --dir/);
  });
});
