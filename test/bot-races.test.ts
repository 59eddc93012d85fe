/**
 * Races between commands that await the network: a real agent child process (sim driver) over
 * mutual TLS and a real SQLite file, with two commands in flight at once.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';

let agent: AgentChild;
let rig: BotRig;

before(async () => {
  agent = await startAgentChild();
  rig = await startBotRig({ port: agent.port });
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  if (rig) {
    await rm(rig.dir, { recursive: true, force: true });
  }
});

function filed(replies: string[][]): string[][] {
  return replies.filter((lines) => /request #\d+ filed/.test(lines.join('\n')));
}

describe('two creates at once', () => {
  test('from one person: one is filed, the other refused by the quota', async () => {
    const replies = await Promise.all([
      rig.say('shell:carol', '!ve create'),
      rig.say('shell:carol', '!ve create'),
    ]);

    assert.equal(filed(replies).length, 1, JSON.stringify(replies));
    assert.ok(replies.some((lines) => /pending request/.test(lines.join('\n'))));
    assert.equal(rig.bot.services.store.requests.inStates(['pending'], 'shell:carol').length, 1);
  });

  test('irc:Bob and shell:bob: one gets the login bob, the other is refused', async () => {
    const replies = await Promise.all([
      rig.say('irc:Bob', '!ve create'),
      rig.say('shell:bob', '!ve create'),
    ]);

    assert.equal(filed(replies).length, 1, JSON.stringify(replies));
    assert.match(filed(replies)[0]?.join('\n') ?? '', /login bob\b/);
    assert.ok(replies.some((lines) => /another person already has/.test(lines.join('\n'))));
    const holders = [
      ...rig.bot.services.store.requests.inStates(['pending'], 'irc:Bob'),
      ...rig.bot.services.store.requests.inStates(['pending'], 'shell:bob'),
    ];
    assert.equal(holders.length, 1);
  });
});

describe('two approvals at once', () => {
  let quotaRig: BotRig;

  before(async () => {
    quotaRig = await startBotRig({
      port: agent.port,
      config: { quotas: { activeVes: 1, pendingRequests: 2 } },
    });
  });

  after(async () => {
    await quotaRig?.stop();
    if (quotaRig) {
      await rm(quotaRig.dir, { recursive: true, force: true });
    }
  });

  test('for one person with a quota of one VE: one is approved, the other kept pending',
    async () => {
      const first = await quotaRig.say('shell:nia', '!ve create');
      const second = await quotaRig.say('shell:nia', '!ve create');
      assert.equal(filed([first, second]).length, 2, JSON.stringify([first, second]));

      const replies = await Promise.all([
        quotaRig.say('irc:crew1', '!approve 1'),
        quotaRig.say('irc:crew2', '!approve 2'),
      ]);

      const active = replies.filter((lines) => /is active on node1/.test(lines.join('\n')));
      assert.equal(active.length, 1, JSON.stringify(replies));
      const refused = replies.find((lines) => !active.includes(lines))?.join('\n') ?? '';
      const held = /shell:nia already holds 1 VE\(s\), 1 of them being created \(quota 1\)/;
      assert.match(refused, held);
      assert.match(refused, /request #\d kept pending/);

      const { store } = quotaRig.bot.services;
      assert.equal(store.ves.countActiveByOwner('shell:nia'), 1);
      assert.equal(store.requests.inStates(['pending'], 'shell:nia').length, 1);
      assert.equal(store.requests.inStates(['active'], 'shell:nia').length, 1);
    });
});
