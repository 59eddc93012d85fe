/**
 * `!templates update` end to end: a bot on real SQLite and three configured nodes: node1 is a
 * real agent child whose templateSource is a directory (one new template, one changed, one
 * unchanged, one with a wrong checksum in index.json), node2 a real agent without a source, and
 * node3 is down. Each node is reported for itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  freePort,
  startAgentChild,
  startBotRig,
  type AgentChild,
  type BotRig,
} from './helpers/bot-rig.ts';
import { makeTestPki } from './helpers/pki.ts';

const CREW = 'irc:crew1';

let dir: string;
let cache: string;
let node1: AgentChild;
let node2: AgentChild;
let rig: BotRig;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function makeSource(source: string): Promise<void> {
  const files: Record<string, string> = {
    'alpine-3.19.tar.xz': 'alpine from the mirror',
    'debian-12.tar.gz': 'debian, same on both sides',
    'ubuntu-22.04.tar.gz': 'ubuntu, rebuilt on the mirror',
    'broken-1.tar.gz': 'a tarball whose index entry is wrong',
  };
  await mkdir(source, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(source, name), content);
  }
  const index = Object.entries(files).map(([name, content]) => ({
    name,
    size: Buffer.byteLength(content),
    sha256: name.startsWith('broken') ? sha256('something else') : sha256(content),
  }));
  await writeFile(path.join(source, 'index.json'), JSON.stringify(index));
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-templates-update-'));
  const source = path.join(dir, 'source');
  cache = path.join(dir, 'cache');
  await makeSource(source);
  await mkdir(cache);
  await writeFile(path.join(cache, 'debian-12.tar.gz'), 'debian, same on both sides');
  await writeFile(path.join(cache, 'ubuntu-22.04.tar.gz'), 'ubuntu, the old build');

  // node2 is a second real agent, with node2's certificate and no templateSource.
  const pki = await makeTestPki();
  const pki2 = path.join(dir, 'pki2');
  await cp(pki.dir, pki2, { recursive: true });
  await writeFile(path.join(pki2, 'node2.crt'), pki.node2.cert);
  await writeFile(path.join(pki2, 'node2.key'), pki.node2.key, { mode: 0o600 });

  node1 = await startAgentChild({ templates: cache, templateSource: source });
  node2 = await startAgentChild({ name: 'node2', pki: pki2 });
  const down = await freePort();
  rig = await startBotRig({
    port: node1.port,
    config: {
      nodes: [
        { name: 'node1', address: `127.0.0.1:${node1.port}` },
        { name: 'node2', address: `127.0.0.1:${node2.port}` },
        { name: 'node3', address: `127.0.0.1:${down}` },
      ],
    },
  });
});

after(async () => {
  await rig?.stop();
  await node1?.cleanup();
  await node2?.cleanup();
  await rm(rig?.dir ?? '', { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

describe('!templates update', () => {
  test('is for the crew', async () => {
    const lines = await rig.say('shell:bob', '!templates update');
    assert.deepEqual(lines, [
      'the command !templates update needs the crew role and you are student; an admin can !grant it',
    ]);
    assert.deepEqual((await readdir(cache)).sort(), ['debian-12.tar.gz', 'ubuntu-22.04.tar.gz']);
  });

  test('reports per node: changes, a broken template, no source, unreachable', async () => {
    const lines = await rig.say(CREW, '!templates update');

    assert.deepEqual(lines, [
      'updating templates on 3 node(s); this may take a while…',
      'templates update:',
      'node1: 1 added, 1 updated, 1 unchanged, 1 failed',
      '  added: alpine-3.19.tar.xz',
      '  updated: ubuntu-22.04.tar.gz',
      `  failed: broken-1.tar.gz (sha256 is ${sha256('a tarball whose index entry is wrong')}, ` +
        `index.json says ${sha256('something else')})`,
      'node2: no templateSource in its agent config, so nothing to update',
      'node3: unreachable; its templates were not updated, try again later',
    ]);

    // The cache has the new and changed templates, and nothing of the broken one.
    assert.deepEqual((await readdir(cache)).sort(), [
      'alpine-3.19.tar.xz',
      'debian-12.tar.gz',
      'ubuntu-22.04.tar.gz',
    ]);
    const ubuntu = await readFile(path.join(cache, 'ubuntu-22.04.tar.gz'), 'utf8');
    assert.equal(ubuntu, 'ubuntu, rebuilt on the mirror');
    const listed = await rig.say('shell:bob', '!templates');
    assert.deepEqual(listed, [
      'templates on node1:',
      '  alpine-3.19',
      '  debian-12',
      '  ubuntu-22.04',
    ]);
  });

  test('a second run finds nothing new and the run is audited', async () => {
    const lines = await rig.say(CREW, '!templates update');
    assert.equal(lines[2], 'node1: 0 added, 0 updated, 3 unchanged, 1 failed');

    const audit = rig.bot.services.store.audit.recent(5);
    const runs = audit.filter((entry) => entry.action === 'command templates update');
    assert.ok(runs.some((entry) => entry.actor === CREW && entry.outcome === 'ok'));
    assert.ok(runs.some((entry) => entry.actor === 'shell:bob' && entry.outcome === 'refused'));
  });
});
