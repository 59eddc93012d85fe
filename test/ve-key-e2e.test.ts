/**
 * `!ve key ID PUBLIC-KEY` through the bot and a real agent child that provisions under a
 * scratch root (sim driver, real useradd): the owner's key lands in the agent's
 * ROOT/etc/crewvz/authorized_keys/USERNAME, someone else hears the "no such VE" answer, a bad
 * key is answered with the node's reason and the usage, and the audit never holds the key.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { entryExists } from '../agent/atomic-file.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { makeScratchRoot, removeScratchRoot } from './helpers/scratch-root.ts';

const exec = promisify(execFile);
const CREW = 'irc:crew1';
const USAGE = 'usage: !ve key ID PUBLIC-KEY';

let root: string;
let agent: AgentChild;
let rig: BotRig;
let bobKey: string;

async function makeKey(name: string, type = 'ed25519', bits?: number): Promise<string> {
  const file = path.join(root, `test-key-${name}`);
  const size = bits === undefined ? [] : ['-b', String(bits)];
  const comment = ['-C', `${name}@laptop`];
  await exec('ssh-keygen', ['-q', '-t', type, ...size, '-N', '', ...comment, '-f', file]);
  return (await readFile(`${file}.pub`, 'utf8')).trim();
}

function keyFile(username: string): string {
  return path.join(root, 'etc/crewvz/authorized_keys', username);
}

before(async () => {
  root = await makeScratchRoot();
  agent = await startAgentChild({
    root,
    network: { pool: '10.0.5.0/28', nameservers: ['10.0.5.1'], domain: 'vz.example.edu' },
  });
  rig = await startBotRig({
    port: agent.port,
    config: {
      nodes: [
        { name: 'node1', address: `127.0.0.1:${agent.port}`, sshHost: 'lab.example.edu' },
      ],
    },
  });
  bobKey = await makeKey('bob');

  const filed = await rig.say('shell:bob', '!ve create');
  const number = /request #(\d+) filed/.exec(filed.join('\n'))?.[1];
  assert.ok(number, filed.join('\n'));
  assert.match((await rig.say(CREW, `!approve ${number}`)).join('\n'), /VE 101 is active/);
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  await rm(rig?.dir ?? '', { recursive: true, force: true });
  await removeScratchRoot(root);
});

describe('!ve key', () => {
  test('the owner installs their key and is told how to log in', async () => {
    const lines = await rig.say('shell:bob', `!ve key 101 ${bobKey}`);
    assert.deepEqual(lines, [
      'VE 101: your key (ssh-ed25519) is installed; log in with ssh bob@lab.example.edu',
    ]);
    const [type, blob] = bobKey.split(' ');
    assert.equal(await readFile(keyFile('bob'), 'utf8'), `${type} ${blob}\n`);
  });

  test('another student hears the same as for a VE that does not exist', async () => {
    const carolKey = await makeKey('carol');
    const foreign = await rig.say('shell:carol', `!ve key 101 ${carolKey}`);
    const absent = await rig.say('shell:carol', `!ve key 999 ${carolKey}`);
    assert.deepEqual(foreign, ['you have no VE 101; !ve list shows yours']);
    assert.deepEqual(absent, ['you have no VE 999; !ve list shows yours']);
    assert.ok(!(await readFile(keyFile('bob'), 'utf8')).includes(carolKey.split(' ')[1] ?? '-'));
    assert.equal(await entryExists(keyFile('carol')), false);
  });

  test('a bad key gets the reason and the usage, and changes nothing', async () => {
    const installed = await readFile(keyFile('bob'), 'utf8');
    const weak = await makeKey('weak', 'rsa', 1024);

    const short = await rig.say('shell:bob', `!ve key 101 ${weak}`);
    assert.equal(short.length, 2, short.join('\n'));
    assert.match(short[0] ?? '', /^node1 refused that for VE 101: KEY is a 1024-bit RSA key; /);
    assert.equal(short[1], USAGE);

    const options = await rig.say('shell:bob', `!ve key 101 command="/bin/sh" ${bobKey}`);
    assert.match(options[0] ?? '', /KEY starts with options \(command=, from=, \.\.\.\)/);
    assert.equal(options[1], USAGE);

    assert.deepEqual(await rig.say('shell:bob', '!ve key 101'), [USAGE]);
    assert.match((await rig.say('shell:bob', '!help ve')).join('\n'), /!ve key ID PUBLIC-KEY +\S/);
    assert.equal(await readFile(keyFile('bob'), 'utf8'), installed);
  });

  test('the crew may install a key for any VE', async () => {
    const newKey = await makeKey('bob2', 'ecdsa', 256);
    const lines = await rig.say(CREW, `!ve key 101 ${newKey}`);
    assert.deepEqual(lines, [
      'VE 101: the key of shell:bob (ecdsa-sha2-nistp256) is installed; log in with ssh ' +
        'bob@lab.example.edu',
    ]);
    const [type, blob] = newKey.split(' ');
    assert.equal(await readFile(keyFile('bob'), 'utf8'), `${type} ${blob}\n`);
  });

  test('the audit names the key by fingerprint, never by its content', async () => {
    const audit = (await rig.say('shell:ada', '!audit 30')).join('\n');
    assert.match(audit, /ve key VE 101: ok \(ssh-ed25519 SHA256:\S+ for bob\)/);
    assert.match(audit, /command ve key 101 <PUBLIC-KEY>: ok/);
    assert.match(audit, /ve key VE 101: failed/);
    const blob = bobKey.split(' ')[1] ?? '';
    assert.ok(!audit.includes(blob.slice(20, 60)), 'no key material in the audit');
  });
});
