/**
 * The bot end to end: a real agent child process (sim driver) over mutual TLS, a real SQLite
 * file, commands sent through the dispatcher as chat messages. Tests run in order and share one
 * agent; each uses its own people so quotas do not leak between them.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { addDays } from 'date-fns';

import { AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { Store } from '../src/store/index.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { makeTestPki } from './helpers/pki.ts';

// Not shell:admin: 'admin' is a reserved login name, and this admin files a VE of its own.
const ADMIN = 'shell:ada';
const CREW = 'irc:crew1';

let agent: AgentChild;
let rig: BotRig;
const dirs: string[] = [];

function text(lines: string[]): string {
  return lines.join('\n');
}

async function agentClient(): Promise<AgentClient> {
  const pki = await makeTestPki();
  return new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.port}`,
    tls: { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key },
    logger: silentLogger(),
  });
}

/** The request number in a `request #N filed` reply. */
function requestNumber(lines: string[]): number {
  const match = /request #(\d+) filed/.exec(text(lines));
  assert.ok(match, `no request number in: ${text(lines)}`);
  return Number(match[1]);
}

before(async () => {
  agent = await startAgentChild();
  rig = await startBotRig({ port: agent.port });
  dirs.push(rig.dir);
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('bot end to end', () => {
  test('request → approve → VE → ubc → stop → remove', async () => {
    const filed = await rig.say('shell:bob', '!ve create');
    const id = requestNumber(filed);
    const announced = rig.adapter.sent.find((s) => s.destination.kind === 'alerts');
    assert.ok(announced, 'the crew was told about the new request');
    assert.deepEqual(
      announced.reply.actions?.map((a) => a.command),
      [`!approve ${id}`, `!deny ${id}`],
    );

    const approved = await rig.say(CREW, `!approve ${id}`);
    const creating = new RegExp(`request #${id} approved, creating VE 101 on node1`);
    assert.match(approved[0] ?? '', creating);
    assert.match(approved[1] ?? '', /VE 101 is active on node1/);
    assert.ok(
      rig.adapter.sent.some(
        (s) => s.destination.kind === 'user' && s.destination.identity === 'shell:bob',
      ),
      'the requester hears about the new VE',
    );

    const list = text(await rig.say('shell:bob', '!ve list'));
    assert.match(list, /VE 101\s+node1\s+shell:bob\s+bob\s+\S+\s+running/);

    const ubc = text(await rig.say('shell:bob', '!VE UBC 101'));
    assert.match(ubc, /resource\s+held\s+maxheld\s+barrier\s+limit\s+failcnt/);
    assert.match(ubc, /kmemsize\s+[\d.]+ (KiB|MiB)/);
    assert.match(ubc, /unlimited/);

    assert.match(text(await rig.say('shell:bob', '!ve stop 101')), /VE 101: stopped/);
    assert.match(text(await rig.say('shell:bob', '!ve status 101')), /VE 101 on node1: stopped/);

    const ask = text(await rig.say('shell:bob', '!ve remove 101'));
    assert.match(ask, /!ve remove 101 confirm/);
    const removed = text(await rig.say('shell:bob', '!ve remove 101 confirm'));
    assert.match(removed, /VE 101 removed/);

    const client = await agentClient();
    const [status] = (await client.call('status', [101])) as [{ state: string }];
    client.close();
    assert.equal(status.state, 'absent');
    assert.match(text(await rig.say('shell:bob', '!ve status 101')), /you have no VE 101/);
    assert.match(text(await rig.say(CREW, '!ve status 101')), /there is no VE 101/);

    const audit = text(await rig.say(ADMIN, '!audit 50'));
    assert.match(audit, /request approved request #1: ok \(VE 101 on node1\)/);
    assert.match(audit, /ve remove VE 101: ok/);
  });

  test('VE IDs are never reused after a removal', async () => {
    const id = requestNumber(await rig.say('shell:bob', '!ve create'));
    const approved = text(await rig.say(CREW, `!approve ${id}`));
    assert.match(approved, /creating VE 102 on node1/);
    assert.match(approved, /VE 102 is active/);
  });

  test('role refusals name the role needed', async () => {
    assert.match(
      text(await rig.say('shell:carol', '!approve 1')),
      /!approve needs the crew role and you are student/,
    );
    assert.match(
      text(await rig.say(CREW, '!grant irc:dave crew')),
      /!grant needs the admin role and you are crew/,
    );
    assert.match(text(await rig.say('shell:carol', '!ve stop 102')), /you have no VE 102/);

    const nobody = text(await rig.say(null, '!ve create'));
    assert.match(nobody, /identify with its services/);
    assert.match(text(await rig.say(null, '!whoami')), /does not vouch for you/);

    assert.match(text(await rig.say(ADMIN, '!grant irc:dave crew')), /irc:dave is now crew/);
    assert.match(text(await rig.say('irc:dave', '!whoami')), /role crew \(granted/);
    assert.match(text(await rig.say(ADMIN, '!revoke irc:dave')), /student again/);
    assert.match(text(await rig.say('irc:dave', '!approve 1')), /needs the crew role/);
  });

  test('quota refusals: one pending request and one VE per person', async () => {
    const id = requestNumber(await rig.say('shell:erin', '!ve create'));
    assert.match(
      text(await rig.say('shell:erin', '!ve create')),
      new RegExp(`already have 1 pending request\\(s\\) \\(#${id}`),
    );
    await rig.say(CREW, `!approve ${id}`);
    assert.match(
      text(await rig.say('shell:erin', '!ve create')),
      /you already hold 1 VE\(s\) \(quota 1\)/,
    );
  });

  test('self-approval is refused unless the requester is an admin', async () => {
    const id = requestNumber(await rig.say(CREW, '!ve create'));
    assert.match(
      text(await rig.say(CREW, `!approve ${id}`)),
      new RegExp(`request #${id} is your own; another crew member has to approve it`),
    );
    assert.match(text(await rig.say('irc:crew2', `!deny ${id} not today`)), /denied: not today/);

    const own = requestNumber(await rig.say(ADMIN, '!ve create'));
    assert.match(text(await rig.say(ADMIN, `!approve ${own}`)), /is active on node1/);
  });

  test('approving twice says it is already approved', async () => {
    const id = requestNumber(await rig.say('shell:fay', '!ve create', 'channel'));
    await rig.say(CREW, `!approve ${id}`);
    const announced = rig.adapter.sent.filter((s) => s.destination.kind === 'alerts');
    assert.match(announced.at(-1)?.reply.lines[0] ?? '', new RegExp(`request #${id}, login fay`),
      'a request made in a channel has its outcome announced in the alert channel');
    assert.match(
      text(await rig.say('irc:crew2', `!approve ${id}`)),
      new RegExp(`request #${id} is already approved \\(VE \\d+ on node1\\)`),
    );
  });

  test('pending requests expire after expireDays', async () => {
    const id = requestNumber(await rig.say('shell:gus', '!ve create'));
    rig.clock.now = addDays(rig.clock.now, 8);
    try {
      assert.match(text(await rig.say(CREW, `!approve ${id}`)), new RegExp(`#${id} expired`));
      assert.match(text(await rig.say('shell:gus', '!requests')), /no open requests/);
    } finally {
      rig.clock.now = new Date();
    }
  });

  test('a node that is down keeps the request pending and loses nothing', async () => {
    const id = requestNumber(await rig.say('shell:hal', '!ve create'));
    await agent.stop();
    try {
      assert.match(
        text(await rig.say(CREW, `!approve ${id}`)),
        new RegExp(`node node1 unreachable, request #${id} kept pending`),
      );
      assert.match(text(await rig.say('shell:hal', '!requests')), new RegExp(`#${id}  pending`));
    } finally {
      await agent.start();
    }
    let reply = '';
    for (let attempt = 0; attempt < 40 && !/is active/.test(reply); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      reply = text(await rig.say(CREW, `!approve ${id}`));
    }
    assert.match(reply, /is active on node1/);
  });

  test('restart recovery finishes requests left in provisioning, never twice', async () => {
    await rig.stop();
    const client = await agentClient();
    const [template = ''] = (await client.call('templates', [])) as string[];
    const store = Store.open(rig.database);
    const at = new Date().toISOString();

    /** A request as a bot that died mid-create leaves it: provisioning, VE ID and node set. */
    const leftover = (requester: string, username: string): { id: number; veId: number } => {
      const request = store.requests.insert({ requester, username, template, at, origin: null });
      const veId = store.ves.allocateId();
      const approved = { state: 'approved' as const, at, veId, node: 'node1' };
      store.requests.transition(request.id, 'pending', approved);
      store.requests.transition(request.id, 'approved', { state: 'provisioning', at });
      return { id: request.id, veId };
    };
    const created = leftover('shell:ivy', 'ivy');
    const absent = leftover('shell:jon', 'jon');
    await client.call('create', [created.veId, template, 'ivy']);
    store.close();

    rig = await startBotRig({ port: agent.port, dir: rig.dir });
    const check = Store.open(rig.database);
    try {
      for (const { id, veId } of [created, absent]) {
        assert.equal(check.requests.get(id)?.state, 'active', `request #${id}`);
        assert.equal(check.ves.get(veId)?.state, 'active', `VE ${veId}`);
      }
      const listed = (await client.call('list', [])) as { id: number }[];
      const ids = listed.map((ve) => ve.id);
      assert.equal(ids.filter((ve) => ve === created.veId).length, 1);
      assert.ok(ids.includes(absent.veId));
      const audit = check.audit.recent(20).map((entry) => entry.action);
      assert.ok(!audit.includes('request failed'), 'no second create failed with "exists"');
    } finally {
      check.close();
      client.close();
    }
  });
});
