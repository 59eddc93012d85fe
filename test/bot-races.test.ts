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
