/**
 * VE IDs next to VEs the bot did not make: a real agent child (sim driver) that already has
 * VEs, a new SQLite file, approvals and a restart through the dispatcher.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { Store } from '../src/store/index.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { makeTestPki } from './helpers/pki.ts';

const CREW = 'irc:crew1';

let agent: AgentChild;
let client: AgentClient;
let template: string;
let rig: BotRig | null = null;
const dirs: string[] = [];

before(async () => {
  agent = await startAgentChild();
  const pki = await makeTestPki();
  client = new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.port}`,
    tls: { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key },
    logger: silentLogger(),
  });
  [template = ''] = (await client.call('templates', [])) as string[];
});

after(async () => {
  await rig?.stop();
  client?.close();
  await agent?.cleanup();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function freshRig(): Promise<BotRig> {
  await rig?.stop();
  rig = await startBotRig({ port: agent.port });
  dirs.push(rig.dir);
  return rig;
}

async function hostnameOf(veId: number): Promise<string | null> {
  const [status] = (await client.call('status', [veId])) as [{ hostname: string | null }];
  return status.hostname;
}

test('approval skips the IDs the node already has, and never hands them out later', async () => {
  // VEs made on the node by hand, before the bot's database existed.
  await client.call('create', [101, template, 'stranger']);
  await client.call('create', [102, template, 'other']);
  const bot = await freshRig();

  await bot.say('shell:pia', '!ve create');
  const approved = (await bot.say(CREW, '!approve 1')).join('\n');
  assert.match(approved, /creating VE 103 on node1/);
  assert.match(approved, /VE 103 is active on node1/);
  assert.equal(await hostnameOf(101), 'stranger', 'the VE that was there is untouched');
  assert.equal(await hostnameOf(103), 'pia');

  // The node's own VE 101 goes away: its ID stays used up all the same.
  await client.call('remove', [101]);
  await bot.say('shell:quin', '!ve create');
  assert.match((await bot.say(CREW, '!approve 2')).join('\n'), /VE 104 is active/);
});

test('restart recovery fails a request whose VE ID is someone else\'s VE', async () => {
  const bot = await freshRig();
  await bot.stop();
  rig = null;

  // A request as a bot that died mid-create leaves it, with an ID the node gives another VE.
  const store = Store.open(bot.database);
  const at = new Date().toISOString();
  const request = store.requests.insert({
    requester: 'shell:rex',
    username: 'rex',
    template,
    at,
    origin: null,
  });
  // VE 102 is other's (the test above made it); a new database would hand out 101 first.
  const veId = store.ves.allocateId(new Set([101]));
  assert.equal(veId, 102);
  store.requests.transition(request.id, 'pending', { state: 'approved', at, veId, node: 'node1' });
  store.requests.transition(request.id, 'approved', { state: 'provisioning', at });
  store.close();

  rig = await startBotRig({ port: agent.port, dir: bot.dir });
  const { store: after } = rig.bot.services;
  const failed = after.requests.get(request.id);
  assert.equal(failed?.state, 'failed');
  assert.match(failed?.reason ?? '', /VE 102 on node1 is not the one made for login rex/);
  assert.match(failed?.reason ?? '', /hostname other/);
  assert.equal(after.ves.get(veId), null, 'no VE record handed to shell:rex');
  assert.equal(await hostnameOf(veId), 'other', 'the other VE is left alone');

  const told = rig.adapter.sent.find(
    (s) => s.destination.kind === 'user' && s.destination.identity === 'shell:rex',
  );
  assert.match(told?.reply.lines.join('\n') ?? '', new RegExp(`request #${request.id} failed`));
});
