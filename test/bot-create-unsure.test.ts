/**
 * A create whose outcome the node cannot vouch for stays in provisioning and is settled from
 * the node's `status` later, never failed on the spot. vzctl's 9 (the VE's lock is held) is one
 * such answer: after an agent restart, the create it had started may still be running and
 * holding the lock, and will make the VE a moment later. A real agent child with the vzctl
 * driver over the fake vzctl, whose failures the test switches on and off.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { writeFakeVzWrapper } from './helpers/fake-vz-node.ts';

const CREW = 'irc:crew1';

let dir: string;
let fakeDir: string;
let agent: AgentChild;
let rig: BotRig;

async function vzctlCreates(): Promise<number> {
  const text = await readFile(path.join(fakeDir, 'calls.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as string[])
    .filter((argv) => path.basename(argv[0] ?? '') === 'vzctl' && argv[1] === 'create').length;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-create-unsure-'));
  fakeDir = path.join(dir, 'vz');
  const templates = path.join(fakeDir, 'template/cache');
  await mkdir(templates, { recursive: true });
  await writeFile(path.join(templates, 'debian-12.tar.gz'), '');
  await writeFile(path.join(dir, 'ubc.txt'), 'Version: 2.5\n');
  const bin = path.join(dir, 'bin');

  agent = await startAgentChild({
    driver: 'vzctl',
    vzctl: await writeFakeVzWrapper(bin, fakeDir, 'vzctl'),
    vzlist: await writeFakeVzWrapper(bin, fakeDir, 'vzlist'),
    beancounters: path.join(dir, 'ubc.txt'),
    templates,
  });
  rig = await startBotRig({ port: agent.port });
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  await rm(rig?.dir ?? '', { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

describe('a create answered with vzctl 9 (lock held)', () => {
  test('stays in provisioning, then is finished from status, created once', async () => {
    const filed = (await rig.say('shell:bob', '!ve create debian-12')).join('\n');
    const id = Number(/request #(\d+) filed/.exec(filed)?.[1]);
    assert.ok(id > 0, filed);

    await writeFile(path.join(dir, 'bin/fail'), 'create:9');
    const approved = (await rig.say(CREW, `!approve ${id}`)).join('\n');
    assert.match(approved, /did not confirm VE 101; request #\d+ stays in provisioning/);
    assert.doesNotMatch(approved, /failed/);
    assert.equal(rig.bot.services.store.requests.get(id)?.state, 'provisioning');

    // The lock is free again: a restarted bot reconciles, finds no VE, and creates it once.
    await rm(path.join(dir, 'bin/fail'));
    const before = await vzctlCreates();
    await rig.stop();
    rig = await startBotRig({ port: agent.port, dir: rig.dir });

    assert.equal(rig.bot.services.store.requests.get(id)?.state, 'active');
    assert.equal(await vzctlCreates(), before + 1);
  });
});
