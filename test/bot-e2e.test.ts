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

describe('after the new-user trial', () => {
  /** The first active VE of `owner`. */
  const veOf = (owner: string): number => {
    const ve = rig.bot.services.store.ves.active(owner)[0];
    assert.ok(ve, `${owner} has a VE`);
    return ve.id;
  };

  /** Approves until the node answers again (the client waits out its backoff first). */
  const approveWhenBack = async (id: number): Promise<string> => {
    let reply = '';
    for (let attempt = 0; attempt < 40 && !/is active/.test(reply); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      reply = text(await rig.say(CREW, `!approve ${id}`));
    }
    return reply;
  };

  test('one login per person: case and accents, and a numbered login for a second VE', async () => {
    // shell:bob's request from the first test still holds the login bob.
    assert.match(
      text(await rig.say('shell:Bob', '!ve create')),
      /login name 'bob', which another person already has on the nodes; ask the crew/,
    );
    assert.match(text(await rig.say('shell:ünï', '!ve create')), /, login uni\./);

    // Admins have no quota; each VE still needs a login of its own on the node.
    assert.match(text(await rig.say(ADMIN, '!ve list')), /\bada\b/);
    const second = requestNumber(await rig.say(ADMIN, '!ve create'));
    assert.match(text(await rig.say(ADMIN, `!approve ${second}`)), /login ada2\)/);
  });

  test('with no node answering, a request is filed and approval picks the template', async () => {
    await agent.stop();
    let id: number;
    try {
      const filed = text(await rig.say('shell:kai', '!ve create'));
      assert.match(filed, /filed: a VE with the node's default template \(.*chosen at approval\)/);
      id = requestNumber([filed]);
      assert.match(text(await rig.say('shell:kai', '!templates')), /no node answers/);
      assert.equal(rig.bot.services.store.requests.get(id)?.template, null);
    } finally {
      await agent.start();
    }
    assert.match(await approveWhenBack(id), /is active on node1/);
    const client = await agentClient();
    const [first] = (await client.call('templates', [])) as string[];
    client.close();
    assert.equal(rig.bot.services.store.requests.get(id)?.template, first);
  });

  test('!requests lines up its columns', async () => {
    requestNumber(await rig.say('shell:lia', '!ve create'));
    const lines = await rig.say(CREW, '!requests');
    assert.match(lines[0] ?? '', /^#\s+state\s+requester\s+template\s+filed/);
    const column = (line: string): number => line.search(/ {2}\S/);
    assert.ok(lines.every((line) => column(line) === column(lines[0] ?? '')), lines.join('\n'));
  });

  test('!deny caps its reason', async () => {
    const id = requestNumber(await rig.say('shell:mo', '!ve create'));
    const long = text(await rig.say(CREW, `!deny ${id} ${'r'.repeat(201)}`));
    assert.match(long, /the reason is 201 characters long; keep it to 200/);
    assert.equal(rig.bot.services.store.requests.get(id)?.state, 'pending');
    assert.match(text(await rig.say(CREW, `!deny ${id} no room`)), /denied: no room/);
  });

  test('!ve set: barrier above limit refused; agent refusals get the command usage', async () => {
    const ve = veOf(ADMIN);
    const usage = 'usage: !ve set ID RESOURCE BARRIER[:LIMIT]';
    const above = await rig.say(CREW, `!ve set ${ve} numproc 100:50`);
    assert.match(above[0] ?? '', /the barrier \(100\) is above the limit \(50\)/);
    assert.equal(above[1], usage);
    assert.match(text(await rig.say(CREW, `!ve set ${ve} nosuch 5`)), /'nosuch' is not a/);

    // Too large for the kernel: the bot reads it with the agent's own parser (parseUbcAmount),
    // so it refuses with its words and usage line, never the agent's code 1003.
    const tooLarge = await rig.say(CREW, `!ve set ${ve} numproc 9999999999999999999`);
    assert.match(tooLarge[0] ?? '', /BARRIER is larger than 9223372036854775807/);
    assert.equal(tooLarge[1], usage);
    assert.doesNotMatch(tooLarge.join('\n'), /code 1003|usage: set ID/);
    assert.match(text(await rig.say(CREW, `!ve set ${ve} numproc 400:500`)), /set to 400:500/);
  });

  test('!ve ubc marks a row near its barrier and keeps the columns', async () => {
    const ve = veOf(ADMIN);
    // A barrier of one process: the running VE holds at least that many.
    assert.match(text(await rig.say(CREW, `!ve set ${ve} numproc 1:1`)), /set to 1:1/);

    const lines = await rig.say(ADMIN, `!ve ubc ${ve}`);
    const header = lines.find((line) => /resource\s+held/.test(line)) ?? '';
    const flagged = lines.find((line) => /numproc/.test(line)) ?? '';
    assert.match(flagged, /^\* numproc\s.*(% of barrier|failcnt \d+)$/, lines.join('\n'));
    // Right-aligned columns end where their heading ends.
    const ends = (line: string): number[] =>
      [...line.matchAll(/\S+/g)].map((word) => (word.index ?? 0) + word[0].length);
    const [, held = 0] = ends(header);
    assert.equal(flagged.indexOf(' ', flagged.search(/\d/)), held, lines.join('\n'));
  });

  test('students hear the same words for an absent VE and one that is not theirs', async () => {
    const theirs = veOf(ADMIN);
    const foreign = text(await rig.say('shell:zed', `!ve status ${theirs}`));
    const absent = text(await rig.say('shell:zed', '!ve status 9999'));
    assert.equal(foreign.replace(String(theirs), 'N'), absent.replace('9999', 'N'));
  });

  test('start and stop say when there was nothing to do', async () => {
    const ve = veOf(ADMIN);
    assert.match(text(await rig.say(ADMIN, `!ve stop ${ve}`)), new RegExp(`VE ${ve}: stopped`));
    assert.equal(text(await rig.say(ADMIN, `!ve stop ${ve}`)), `VE ${ve} was already stopped`);
    assert.match(
      text(await rig.say(ADMIN, `!ve start ${ve}`)),
      /running since \d{4}-\d\d-\d\d \d\d:\d\d UTC \(\d+ seconds?\)/,
    );
    assert.equal(text(await rig.say(ADMIN, `!ve start ${ve}`)), `VE ${ve} is already running`);
  });

  test('with the node down, reading a VE does not claim it "was not changed"', async () => {
    const ve = veOf(ADMIN);
    await agent.stop();
    try {
      for (const command of [`!ve status ${ve}`, `!ve ubc ${ve}`]) {
        const reply = text(await rig.say(ADMIN, command));
        assert.match(reply, new RegExp(`node node1 unreachable \\(.+\\); cannot read VE ${ve}`));
        assert.doesNotMatch(reply, /was not changed/);
      }
      const list = text(await rig.say(ADMIN, '!ve list'));
      assert.match(list, /unknown \(node unreachable\)/);
      assert.doesNotMatch(list, /was not changed/);
      assert.match(text(await rig.say(ADMIN, `!ve stop ${ve}`)), /was not changed/);
    } finally {
      await agent.start();
    }
  });
});
