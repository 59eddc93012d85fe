import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';

import { startAgent, type RunningAgent } from '../agent/main.ts';
import { findHostAccount } from '../agent/provision/host-account.ts';
import { AgentCallError, AgentClient } from '../src/agent-client.ts';
import { makeTestPki } from './helpers/pki.ts';
import {
  makeScratchRoot,
  removeScratchRoot,
  scratchAgentConfig,
  snapshotFiles,
} from './helpers/scratch-root.ts';

const quiet = pino({ level: 'silent' });
const TEMPLATE = 'debian-12-x86_64-minimal';

let root: string;
let agent: RunningAgent;
let client: AgentClient;

before(async () => {
  const pki = await makeTestPki();
  root = await makeScratchRoot();
  const source = path.join(root, 'srv/templates');
  await mkdir(source, { recursive: true });
  await writeFile(path.join(source, 'alpine-3.19.tar.xz'), 'a template from the mirror');
  // A person's own host account, which a student's username must not take over.
  await appendFile(path.join(root, 'etc/passwd'), 'bob:x:1000:1000:Bob:/home/bob:/bin/bash\n');
  await appendFile(path.join(root, 'etc/group'), 'bob:x:1000:\n');

  const config = scratchAgentConfig(root, pki.dir, { templateSource: source });
  agent = await startAgent(config, { logger: quiet });
  client = new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.address.port}`,
    tls: { ca: pki.ca, ...pki.bot },
    logger: quiet,
  });
});

after(async () => {
  await client.close();
  await agent.stop();
  await removeScratchRoot(root);
});

describe('the agent with network configured', () => {
  it('provisions on create and takes it all back on remove', async () => {
    const before = await snapshotFiles(root);
    const [status] = (await client.call('create', [101, TEMPLATE, 'alice'])) as [
      { state: string; address: string; hostname: string },
    ];

    assert.equal(status.state, 'running');
    assert.equal(status.address, '10.0.5.2');
    assert.equal(status.hostname, 'alice.vz.example.edu');
    assert.ok(await findHostAccount(root, 'alice'));
    const map = await readFile(path.join(root, 'etc/apache2/crewvz-vhosts.map'), 'utf8');
    assert.equal(map, 'alice 10.0.5.2\n');

    // The sim keeps the VE's users in its state file, as vzctl would in the private area.
    const simState = JSON.parse(
      await readFile(path.join(root, 'var/lib/crewvz-agent/sim-state.json'), 'utf8'),
    ) as { ves: Record<string, { users?: Record<string, string> }> };
    const publicKey = await readFile(path.join(root, 'var/lib/crewvz/keys/alice.pub'), 'utf8');
    assert.equal(simState.ves['101']?.users?.alice, publicKey.trim());

    await client.call('remove', [101]);
    assert.equal(await findHostAccount(root, 'alice'), null);

    // What stays: the sim's own state. The map file the create made went with its last line.
    const leftover = [...(await snapshotFiles(root)).keys()].filter(
      (file) => !before.has(file) && !file.startsWith('var/lib/crewvz-agent/sim'),
    );
    assert.deepEqual(leftover, []);
  });

  it('answers a failed step with its name and what was rolled back', async () => {
    await assert.rejects(client.call('create', [102, TEMPLATE, 'bob']), (error: unknown) => {
      assert.ok(error instanceof AgentCallError);
      assert.equal(error.code, 1008);
      assert.match(error.lines[0] ?? '', /step "host account" failed: host account bob already/);
      assert.match(error.lines[1] ?? '', /rolled back: login shell, VE user, ssh key pair/);
      return true;
    });
    assert.deepEqual(await client.call('list'), []);
  });

  it('serves update from the configured template source', async () => {
    const [result] = (await client.call('update')) as [{ added: string[] }];
    assert.deepEqual(result.added, ['alpine-3.19.tar.xz']);
    const templates = await client.call('templates');
    assert.ok(templates.includes('alpine-3.19'));
  });
});
