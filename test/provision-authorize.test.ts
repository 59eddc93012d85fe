/**
 * `authorize ID KEY` under a scratch root with the sim driver and the real useradd: a key made
 * by the real ssh-keygen lands in ROOT/etc/crewvz/authorized_keys/USERNAME the way sshd's
 * StrictModes wants it and `ssh-keygen -l` reads it; a second key replaces it; remove takes it
 * away; every hostile key is refused with 1003 before anything is written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';

import { builtinHandlers } from '../agent/commands.ts';
import type { Driver } from '../agent/driver.ts';
import { Dispatcher } from '../agent/handlers.ts';
import { startAgent, type RunningAgent } from '../agent/main.ts';
import { AgentCode } from '../agent/protocol.ts';
import { parsePublicKey } from '../agent/provision/public-key.ts';
import { ValidationError } from '../agent/validate.ts';
import { AgentCallError, AgentClient } from '../src/agent-client.ts';
import { makeTestPki } from './helpers/pki.ts';
import {
  makeScratchRoot,
  removeScratchRoot,
  scratchAgentConfig,
  snapshotFiles,
} from './helpers/scratch-root.ts';

const exec = promisify(execFile);
const quiet = pino({ level: 'silent' });
const TEMPLATE = 'debian-12-x86_64-minimal';
const KEY_FILE = 'etc/crewvz/authorized_keys/alice';

let root: string;
let agent: RunningAgent;
let client: AgentClient;

/** A fresh key pair from the real ssh-keygen; answers the public key line. */
async function makeKey(type: string, bits?: number, comment = 'alice@laptop'): Promise<string> {
  const file = path.join(root, `key-${Math.random().toString(36).slice(2)}`);
  const size = bits === undefined ? [] : ['-b', String(bits)];
  await exec('ssh-keygen', ['-q', '-t', type, ...size, '-N', '', '-C', comment, '-f', file]);
  return (await readFile(`${file}.pub`, 'utf8')).trim();
}

function typeAndBlob(line: string): string {
  return `${line.split(' ').slice(0, 2).join(' ')}\n`;
}

/** The host files that authorize may touch: everything under root but the test's own keys. */
async function hostFiles(): Promise<Map<string, string>> {
  const files = await snapshotFiles(root);
  for (const name of [...files.keys()].filter((file) => /^key-/.test(file))) {
    files.delete(name);
  }
  return files;
}

async function refusedWith(key: string, pattern: RegExp): Promise<void> {
  const before = await hostFiles();
  await assert.rejects(client.call('authorize', [101, key]), (error: unknown) => {
    assert.ok(error instanceof AgentCallError, String(error));
    assert.equal(error.code, AgentCode.INVALID_ARGUMENTS, error.lines.join('\n'));
    assert.match(error.lines[0] ?? '', pattern);
    assert.equal(error.lines.at(-1), 'usage: authorize ID KEY');
    return true;
  });
  assert.deepEqual(await hostFiles(), before, 'a refused key wrote nothing');
}

before(async () => {
  const pki = await makeTestPki();
  root = await makeScratchRoot();
  const config = scratchAgentConfig(root, pki.dir);
  agent = await startAgent(config, { logger: quiet });
  client = new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.address.port}`,
    tls: { ca: pki.ca, ...pki.bot },
    logger: quiet,
  });
  await client.call('create', [101, TEMPLATE, 'alice']);
});

after(async () => {
  await client.close();
  await agent.stop();
  await removeScratchRoot(root);
});

describe('authorize installs one login key per host account', () => {
  it('writes the key root-owned 0644 in a 0755 folder, as ssh-keygen -l reads it', async () => {
    const key = await makeKey('ed25519', undefined, 'alice $(reboot); `id` "x"');
    const [answer] = (await client.call('authorize', [101, key])) as [
      { username: string; type: string; fingerprint: string },
    ];
    assert.equal(answer.username, 'alice');
    assert.equal(answer.type, 'ssh-ed25519');

    const file = path.join(root, KEY_FILE);
    // The comment (with its shell metacharacters) is dropped: only type and blob are written.
    assert.equal(await readFile(file, 'utf8'), typeAndBlob(key));
    const info = await stat(file);
    assert.equal(info.mode & 0o7777, 0o644);
    assert.equal(info.uid, process.getuid?.());
    const folder = await stat(path.dirname(file));
    assert.equal(folder.mode & 0o7777, 0o755);
    assert.equal(folder.uid, process.getuid?.());
    assert.equal((await stat(path.join(root, 'etc/crewvz'))).mode & 0o7777, 0o755);

    const { stdout } = await exec('ssh-keygen', ['-l', '-f', file]);
    assert.match(stdout, /^256 SHA256:\S+ no comment \(ED25519\)\n$/);
    assert.ok(stdout.includes(answer.fingerprint), `${stdout} has ${answer.fingerprint}`);
  });

  it('replaces the previous key with the next one', async () => {
    const key = await makeKey('ecdsa', 384);
    const [answer] = (await client.call('authorize', ['101', key])) as [{ type: string }];
    assert.equal(answer.type, 'ecdsa-sha2-nistp384');
    assert.equal(await readFile(path.join(root, KEY_FILE), 'utf8'), typeAndBlob(key));

    const rsa = await makeKey('rsa', 2048);
    await client.call('authorize', [101, rsa]);
    assert.equal(await readFile(path.join(root, KEY_FILE), 'utf8'), typeAndBlob(rsa));
  });

  it('answers an unknown VE as start does: 14', async () => {
    const key = await makeKey('ed25519');
    await assert.rejects(client.call('authorize', [199, key]), (error: unknown) => {
      assert.ok(error instanceof AgentCallError);
      assert.equal(error.code, 14);
      assert.match(error.lines[0] ?? '', /VE 199 was not provisioned by this agent/);
      return true;
    });
  });
});

describe('hostile keys get 1003 and write nothing', () => {
  let good: string;
  let blob: string;
  before(async () => {
    good = await makeKey('ed25519', undefined, 'comment');
    blob = good.split(' ')[1] ?? '';
  });

  it('refuses an authorized_keys options prefix', async () => {
    const options = /starts with options \(command=, from=, \.\.\.\)/;
    await refusedWith(`command="/bin/sh" ${good}`, options);
    await refusedWith(`from="*",no-pty ${good}`, options);
    await refusedWith(`restrict ${good}`, options);
  });

  it('refuses a newline or another control character inside', async () => {
    const line = /newline or another control character/;
    await refusedWith(`${good}\nssh-ed25519 ${blob} second`, line);
    await refusedWith(`ssh-ed25519 ${blob}\r`, line);
    await refusedWith(`ssh-ed25519\t${blob}`, line);
    await refusedWith(`ssh-ed25519 ${blob} x\u0000`, line);
  });

  it('refuses shell metacharacters in the type or the base64 part', async () => {
    await refusedWith(`ssh-ed25519;id ${blob}`, /type its first word is not one of ssh-ed25519/);
    await refusedWith(`ssh-ed25519 ${blob}$(id)`, /not valid base64/);
    await refusedWith(`ssh-ed25519 \`id\`${blob}`, /not valid base64/);
    await refusedWith(`ssh-ed25519 ${blob.slice(0, 20)}|${blob.slice(21)}`, /not valid base64/);
  });

  it('refuses a blob whose embedded type is another', async () => {
    await refusedWith(`ssh-rsa ${blob}`, /says ssh-rsa but its base64 part holds a 'ssh-ed25519'/);
    const ecdsa = (await makeKey('ecdsa', 256)).split(' ')[1];
    await refusedWith(`ssh-ed25519 ${ecdsa}`, /holds a 'ecdsa-sha2-nistp256' key/);
    await refusedWith(`ecdsa-sha2-nistp384 ${ecdsa}`, /holds a 'ecdsa-sha2-nistp256' key/);
  });

  it('refuses truncated base64', async () => {
    await refusedWith(`ssh-ed25519 ${blob.slice(0, -8)}`, /is cut off/);
    await refusedWith(`ssh-ed25519 ${blob.slice(0, -3)}`, /not valid base64/);
    await refusedWith('ssh-ed25519', /has no base64 part after ssh-ed25519/);
  });

  it('refuses a 1024-bit RSA key made by ssh-keygen', async () => {
    await refusedWith(await makeKey('rsa', 1024), /is a 1024-bit RSA key; RSA keys need at least/);
  });

  it('refuses a 100 KB key, and a non-string', async () => {
    const before = await hostFiles();
    // Over the wire a line this long is 1004 unread; the handler refuses it on its own too.
    const line = JSON.stringify({
      command: 'authorize',
      arguments: [101, `ssh-ed25519 ${'A'.repeat(100_000)}`],
      id: 1,
    });
    const answer = await agent.dispatcher.handleLine(line, quiet);
    assert.equal(answer.code, AgentCode.INVALID_ARGUMENTS);
    assert.match(String(answer.returned[0]), /is 100012 characters long; .* at most 8192/);
    assert.deepEqual(await hostFiles(), before);

    await refusedWith(`ssh-ed25519 ${'A'.repeat(60_000)}`, /at most 8192/);
    await assert.rejects(client.call('authorize', [101, 42]), /KEY must be a string, got 42/);
  });

  it('leaves the installed key as it was', async () => {
    const installed = await readFile(path.join(root, KEY_FILE), 'utf8');
    assert.match(installed, /^ssh-rsa \S+\n$/);
  });
});

describe('remove', () => {
  it('deletes the key file with everything else', async () => {
    assert.ok((await hostFiles()).has(KEY_FILE));
    await client.call('remove', [101]);
    const left = [...(await hostFiles()).keys()].filter((file) => file.startsWith('etc/crewvz'));
    assert.deepEqual(left, []);
    const records = path.join(root, 'var/lib/crewvz-agent/provisioned');
    assert.deepEqual([...(await snapshotFiles(records)).keys()], []);
  });
});

/** An RFC 4251 string field: uint32 length, then the bytes. */
function field(bytes: Buffer | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** The fields of a key line's blob. */
function fieldsOf(line: string): Buffer[] {
  const blob = Buffer.from(line.split(' ')[1] ?? '', 'base64');
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length; ) {
    const length = blob.readUInt32BE(at);
    fields.push(blob.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return fields;
}

describe('the key parser on its own', () => {
  /** ssh-keygen's own fingerprint of a key line, read from a file as sshd would. */
  async function keygenFingerprint(line: string): Promise<string> {
    const file = path.join(root, `key-check-${Math.random().toString(36).slice(2)}`);
    await writeFile(file, `${line}\n`);
    const { stdout } = await exec('ssh-keygen', ['-l', '-f', file]);
    return stdout.split(' ')[1] ?? '';
  }

  it('takes security keys, with the fingerprint ssh-keygen computes', async () => {
    // No hardware here: the sk blobs are built from real keys' points plus an application.
    const [, point = Buffer.alloc(0)] = fieldsOf(await makeKey('ed25519'));
    const skEd = Buffer.concat([field('sk-ssh-ed25519@openssh.com'), field(point), field('ssh:')]);
    const edLine = `sk-ssh-ed25519@openssh.com ${skEd.toString('base64')}`;
    assert.equal(parsePublicKey(edLine).fingerprint, await keygenFingerprint(edLine));

    const ecdsa = fieldsOf(await makeKey('ecdsa', 256));
    const [, curve = Buffer.alloc(0), ecPoint = Buffer.alloc(0)] = ecdsa;
    const type = 'sk-ecdsa-sha2-nistp256@openssh.com';
    const skEc = Buffer.concat([field(type), field(curve), field(ecPoint), field('ssh:')]);
    const ecLine = `${type} ${skEc.toString('base64')} yubikey`;
    assert.equal(parsePublicKey(ecLine).fingerprint, await keygenFingerprint(ecLine));

    const p521 = await makeKey('ecdsa', 521);
    assert.equal(parsePublicKey(p521).fingerprint, await keygenFingerprint(p521));
  });

  it('refuses an EC point that is not on its curve, and trailing bytes', async () => {
    const ecdsa = fieldsOf(await makeKey('ecdsa', 256));
    const [, curve = Buffer.alloc(0), point = Buffer.alloc(0)] = ecdsa;
    const bent = Buffer.from(point);
    bent[40] = (bent[40] ?? 0) ^ 0x01;
    const type = 'ecdsa-sha2-nistp256';
    const offCurve = Buffer.concat([field(type), field(curve), field(bent)]);
    assert.throws(
      () => parsePublicKey(`${type} ${offCurve.toString('base64')}`),
      (error: unknown) =>
        error instanceof ValidationError && /does not hold a valid ecdsa-sha2-nistp256/.test(
          error.message,
        ),
    );
    const longer = Buffer.concat([field(type), field(curve), field(point), field('x')]);
    assert.throws(() => parsePublicKey(`${type} ${longer.toString('base64')}`), /bytes after/);
  });
});

describe('without provisioning', () => {
  it('answers authorize as an unknown command that says why', async () => {
    const dispatcher = new Dispatcher({
      driver: {} as Driver,
      settings: { name: 'node1', domain: null, limits: {} },
      logger: quiet,
      handlers: builtinHandlers(),
    });
    const answer = await dispatcher.handleLine('{"command":"authorize","arguments":[101,"k"]}');
    assert.equal(answer.code, AgentCode.UNKNOWN_COMMAND);
    assert.match(String(answer.returned[0]), /authorize is not available .*\(no network\.pool\)/);
  });
});
