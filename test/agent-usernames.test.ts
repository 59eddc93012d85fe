import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { AgentCode, checkUsername } from '../agent/protocol.ts';
import { UserFacingError } from '../src/errors.ts';
import { usernameFor } from '../src/roles.ts';
import { rawConnect, startTestAgent, type RawConnection, type TestAgent } from './helpers/agent.ts';

let agent: TestAgent;
let raw: RawConnection;
let template: string;

before(async () => {
  agent = await startTestAgent();
  raw = await rawConnect(agent.port);
  template = (await agent.driver.templates())[0] as string;
});

after(async () => {
  raw.close();
  await agent.stop();
});

const REFUSED = [
  'root',
  'www',
  'www-data',
  'nobody',
  'mail',
  'postmaster',
  'localhost',
  'crewvz',
  'ns',
  'ns1',
  'systemd-network',
  '_apt',
  '_',
  '__proto__',
  'bob_',
  'alice-',
  'xn--bcher-kva',
];

describe('checkUsername (agent/protocol.ts, shared with the bot)', () => {
  it('refuses system accounts, service host names and what is no host name label', () => {
    for (const name of REFUSED) {
      assert.notEqual(checkUsername(name), null, `${name} must be refused`);
    }
    assert.match(checkUsername('www') ?? '', /reserved/);
    assert.match(checkUsername('bob_') ?? '', /'_'/);
    assert.match(checkUsername('alice-') ?? '', /end with '-'/);
  });

  it('takes ordinary student names, digits and inner hyphens included', () => {
    for (const name of ['alice', 'bob2', 'mary-jane', 'nsmith', 'wwwalter', 'a']) {
      assert.equal(checkUsername(name), null, name);
    }
  });
});

describe('the agent refuses reserved usernames on every create', () => {
  it('answers 1003 naming the reason and makes no VE (plain create, no provisioning)', async () => {
    for (const [index, name] of ['www', 'nobody', '_', '__proto__'].entries()) {
      const answer = await raw.request('create', [301 + index, template, name]);
      assert.equal(answer.code, AgentCode.INVALID_ARGUMENTS, name);
      assert.match(String(answer.returned[0]), /cannot be used: .*; pick another username/);
    }
    const list = await raw.request('list');
    assert.deepEqual(list.returned, []);
  });

  it('still creates a VE for an ordinary name', async () => {
    const answer = await raw.request('create', [310, template, 'alice']);
    assert.equal(answer.code, AgentCode.OK);
    assert.equal((await raw.request('remove', [310])).code, AgentCode.OK);
  });
});

describe('the bot derives a login name the nodes accept (src/roles.ts usernameFor)', () => {
  it('turns characters a host name may not hold into hyphens', () => {
    assert.equal(usernameFor('irc:John_Doe'), 'john-doe');
    assert.equal(usernameFor('shell:mary.jane'), 'mary-jane');
  });

  it('refuses a reserved name before the request is stored, saying what to do', () => {
    assert.throws(
      () => usernameFor('irc:www'),
      (error: unknown) =>
        error instanceof UserFacingError &&
        /login name 'www'.*reserved.*ask the crew/.test(error.message),
    );
    assert.throws(() => usernameFor('slack:bob_'), UserFacingError);
  });
});
