/**
 * The new owner hears privately how to log in once the VE is active: `ssh USER@SSHHOST` and,
 * when the node has a web domain, http://USER.WEBDOMAIN/. Two real provisioning agent children
 * (scratch roots): node1 has sshHost and webDomain in the bot config, node2 neither (its name is
 * the ssh host). A third agent that makes no host accounts gives no login to tell of.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Reply } from '../adapters/types.ts';
import { AgentClient } from '../src/agent-client.ts';
import { parseConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { silentLogger } from '../src/log.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { makeTestPki } from './helpers/pki.ts';
import { makeScratchRoot, removeScratchRoot } from './helpers/scratch-root.ts';

const CREW = 'irc:crew1';
// Not shell:admin: 'admin' is a reserved login name, and this admin files a VE of its own.
const ADMIN = 'shell:ada';

let dir: string;
let roots: string[] = [];
let node1: AgentChild;
let node2: AgentChild;
let rig: BotRig;

/** What an agent needs to provision: an address pool, and a scratch root for host files. */
async function provisioning(): Promise<Record<string, unknown>> {
  const root = await makeScratchRoot();
  roots.push(root);
  return {
    root,
    network: { pool: '10.0.5.0/28', nameservers: ['10.0.5.1'], domain: 'vz.example.edu' },
  };
}

/** Everything the bot sent `identity` privately, unprompted. */
function privateTo(identity: string): Reply[] {
  return rig.adapter.sent
    .filter((s) => s.destination.kind === 'user' && s.destination.identity === identity)
    .map((s) => s.reply);
}

function requestNumber(lines: string[]): number {
  const match = /request #(\d+) filed/.exec(lines.join('\n'));
  assert.ok(match, `no request number in: ${lines.join('\n')}`);
  return Number(match[1]);
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-login-message-'));
  const pki = await makeTestPki();
  const pki2 = path.join(dir, 'pki2');
  await cp(pki.dir, pki2, { recursive: true });
  await writeFile(path.join(pki2, 'node2.crt'), pki.node2.cert);
  await writeFile(path.join(pki2, 'node2.key'), pki.node2.key, { mode: 0o600 });

  node1 = await startAgentChild(await provisioning());
  node2 = await startAgentChild({ name: 'node2', pki: pki2, ...(await provisioning()) });
  rig = await startBotRig({
    port: node1.port,
    config: {
      nodes: [
        {
          name: 'node1',
          address: `127.0.0.1:${node1.port}`,
          sshHost: 'lab.example.edu',
          webDomain: 'vz.example.edu',
        },
        { name: 'node2', address: `127.0.0.1:${node2.port}` },
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
  await Promise.all(roots.map((root) => removeScratchRoot(root)));
  roots = [];
});

describe('login instructions for a new VE', () => {
  test('the owner hears ssh and web address privately; the approver does not', async () => {
    const id = requestNumber(await rig.say('shell:bob', '!ve create'));
    assert.deepEqual(privateTo('shell:bob'), []);

    const approved = await rig.say(CREW, `!approve ${id}`);
    assert.match(approved.join('\n'), /VE 101 is active on node1/);
    assert.doesNotMatch(approved.join('\n'), /ssh bob@/, 'the login goes to the owner only');

    const told = privateTo('shell:bob');
    assert.deepEqual(told.at(-1)?.lines, [
      'your VE 101 is ready; log in with: ssh bob@lab.example.edu',
      'before your first login, send me privately: !ve key 101 <your public key> (the line in ' +
        '~/.ssh/id_ed25519.pub); the host takes keys only, no passwords',
      'its web address: http://bob.vz.example.edu/',
    ]);
    assert.deepEqual(privateTo(CREW), []);
  });

  test('a node without sshHost is reached by its name, with no web address', async () => {
    // node1 now holds a VE, so the next request goes to node2.
    const id = requestNumber(await rig.say(ADMIN, '!ve create'));
    const approved = await rig.say(ADMIN, `!approve ${id}`);
    assert.match(approved.join('\n'), /VE 102 is active on node2/);

    // Approving one's own request still brings the login privately.
    assert.deepEqual(privateTo(ADMIN).at(-1)?.lines, [
      'your VE 102 is ready; log in with: ssh ada@node2',
      'before your first login, send me privately: !ve key 102 <your public key> (the line in ' +
        '~/.ssh/id_ed25519.pub); the host takes keys only, no passwords',
    ]);
  });

  test('no login message when the create fails', async () => {
    // The request names a template node1 then loses from its cache, so the create fails there.
    const pki = await makeTestPki();
    const client = new AgentClient({
      name: 'node1',
      address: `127.0.0.1:${node1.port}`,
      tls: { ca: pki.ca, ...pki.bot },
      logger: silentLogger(),
    });
    const [template = ''] = (await client.call('templates', [])) as string[];
    await client.close();
    const id = requestNumber(await rig.say('shell:carol', `!ve create ${template}`));

    const cache = path.join(path.dirname(node1.stateDir), 'templates');
    const tarball = path.join(cache, `${template}.tar.gz`);
    await rename(tarball, `${tarball}.away`);
    let approved: string[];
    try {
      approved = await rig.say(CREW, `!approve ${id}`);
    } finally {
      await rename(`${tarball}.away`, tarball);
    }
    assert.match(approved.join('\n'), /creating VE 103 on node1 failed/);
    const told = privateTo('shell:carol').map((reply) => reply.lines.join('\n'));
    assert.ok(told.some((text) => /creating VE 103 on node1 failed/.test(text)));
    assert.ok(!told.some((text) => /log in with/.test(text)), told.join('\n'));
  });
});

describe('a node whose agent makes no host accounts', () => {
  let agent: AgentChild;
  let plain: BotRig;

  before(async () => {
    agent = await startAgentChild();
    plain = await startBotRig({ port: agent.port });
  });

  after(async () => {
    await plain?.stop();
    await agent?.cleanup();
    await rm(plain?.dir ?? '', { recursive: true, force: true });
  });

  test('gives no ssh login to tell of, and !ve key says why', async () => {
    const filed = (await plain.say('shell:bob', '!ve create')).join('\n');
    const id = /request #(\d+) filed/.exec(filed)?.[1];
    assert.ok(id, filed);
    assert.match((await plain.say(CREW, `!approve ${id}`)).join('\n'), /VE 101 is active/);

    const told = plain.adapter.sent
      .filter((s) => s.destination.kind === 'user' && s.destination.identity === 'shell:bob')
      .map((s) => s.reply.lines);
    assert.deepEqual(told.at(-1), [
      'your VE 101 is ready; it has no ssh login, since its node makes no host accounts (no ' +
        'address pool in its agent config): ask the crew',
    ]);

    // This agent has no authorize command at all, so the key is never looked at.
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDRtP6wdJ7pIlVGzpJu9MHVMI6ZDXJZ+x5RlfdT/1f5I';
    assert.deepEqual(await plain.say('shell:bob', `!ve key 101 ${key}`), [
      'node node1 takes no login keys: its agent makes no host accounts (no network.pool in ' +
        'its config); ask the crew',
    ]);
  });
});

describe('sshHost and webDomain in the bot config', () => {
  const base = {
    pki: '/etc/crewvz/pki',
    roles: { admins: ['shell:admin'] },
    // A config with no chat adapter is refused at load.
    adapters: { shell: { login: 'admin' } },
  };

  test('default to the node name and no web domain', () => {
    const { config } = parseConfig(
      { ...base, nodes: [{ name: 'node1', address: 'n1:7070' }] },
      '/etc/crewvz',
    );
    assert.deepEqual(config.nodes, [
      { name: 'node1', address: 'n1:7070', sshHost: 'node1', webDomain: null },
    ]);
  });

  test('are checked as DNS names, naming the key', () => {
    const bad = (node: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(
        () =>
          parseConfig(
            { ...base, nodes: [{ name: 'node1', address: 'n1:7070', ...node }] },
            '/etc/crewvz',
          ),
        (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
      );
    bad({ sshHost: 'lab example' }, /^nodes\[0\]\.sshHost 'lab example' must be a DNS name/);
    bad({ webDomain: 'http://vz.lab/' }, /^nodes\[0\]\.webDomain 'http:\/\/vz\.lab\/' must be/);
  });
});
