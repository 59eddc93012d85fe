/**
 * `!ve remove ID` waits a minute for its `confirm`; asks that were never confirmed are
 * forgotten once they expire instead of piling up for the life of the bot.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { REMOVE_CONFIRM_MS } from '../src/ve-ops.ts';
import { freePort, startBotRig, type BotRig } from './helpers/bot-rig.ts';

let rig: BotRig;
const ids: number[] = [];

before(async () => {
  rig = await startBotRig({ port: await freePort() });
  const { store } = rig.bot.services;
  const at = rig.clock.now.toISOString();
  for (const owner of ['shell:ann', 'shell:ben', 'shell:cy']) {
    const login = owner.slice('shell:'.length);
    const request = store.requests.insert({
      requester: owner,
      username: login,
      template: 'debian-12',
      at,
      origin: null,
    });
    const id = store.ves.allocateId();
    store.ves.insert({
      id,
      node: 'node1',
      owner,
      username: login,
      template: 'debian-12',
      requestId: request.id,
      createdAt: at,
    });
    ids.push(id);
  }
});

after(async () => {
  await rig?.stop();
  if (rig) {
    await rm(rig.dir, { recursive: true, force: true });
  }
});

describe('!ve remove confirmations', () => {
  test('unconfirmed asks expire and are dropped', async () => {
    for (const id of ids) {
      const lines = await rig.say('irc:crew1', `!ve remove ${id}`);
      assert.match(lines.join('\n'), /confirm/);
    }
    assert.equal(rig.bot.services.ves.awaitingConfirmation, ids.length);

    rig.clock.now = new Date(rig.clock.now.getTime() + REMOVE_CONFIRM_MS + 1_000);
    assert.equal(rig.bot.services.ves.awaitingConfirmation, 0);

    // A confirm after the minute is a fresh ask, not a removal.
    const late = await rig.say('irc:crew1', `!ve remove ${ids[0]} confirm`);
    assert.match(late.join('\n'), /confirm/);
    assert.equal(rig.bot.services.ves.awaitingConfirmation, 1);
  });
});
