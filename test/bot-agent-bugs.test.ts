/**
 * Agent answers that mean a bug or a broken node (codes 1001, 1002, 1004, 1007) take the
 * dispatcher's bug path: a generic reply with a reference, never the agent's lines. A real agent
 * child process with the vzctl driver pointed at a program that does not exist answers 1007
 * (`cannot run ...: spawn ENOENT`), as a node with vzctl missing would.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';

let agent: AgentChild;
let rig: BotRig;

before(async () => {
  agent = await startAgentChild({ driver: 'vzctl', vzctl: '/nonexistent/crewvz-test/vzctl' });
  rig = await startBotRig({ port: agent.port });

  // A VE the bot made earlier, so `!ve start` goes to the node.
  const { store } = rig.bot.services;
  const at = new Date().toISOString();
  const request = store.requests.insert({
    requester: 'shell:dora',
    username: 'dora',
    template: 'debian-12',
    at,
    origin: null,
  });
  store.ves.insert({
    id: store.ves.allocateId(),
    node: 'node1',
    owner: 'shell:dora',
    username: 'dora',
    template: 'debian-12',
    requestId: request.id,
    createdAt: at,
  });
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  if (rig) {
    await rm(rig.dir, { recursive: true, force: true });
  }
});

describe('agent bugs in chat', () => {
  test('an agent internal error gets the generic reply, not its lines', async () => {
    const [ve] = rig.bot.services.store.ves.active('shell:dora');
    assert.ok(ve);

    const lines = await rig.say('shell:dora', `!ve start ${ve.id}`);

    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^something went wrong running !ve start \(reference \w+\)$/);
    assert.doesNotMatch(lines.join('\n'), /ENOENT|nonexistent|vzctl|1007/);
    const [entry] = rig.bot.services.store.audit.recent(1);
    assert.equal(entry?.outcome, 'error');
  });

  test('!ve list with a broken node is a logged bug, not "node unreachable"', async () => {
    const lines = await rig.say('shell:dora', '!ve list');

    assert.match(lines.join('\n'), /^something went wrong running !ve list \(reference \w+\)$/);
    assert.doesNotMatch(lines.join('\n'), /unreachable|ENOENT/);
  });
});
