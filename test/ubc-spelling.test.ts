/**
 * The bot (src/ubc-value.ts), the agent's validator (agent/validate.ts) and the simulated vzctl
 * (agent/sim-state.ts) must take and refuse the same beancounter spellings: a value the bot
 * passes and the agent then refuses reaches the person as an agent error, not as the bot's help.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LONG_MAX, RESOURCE_UNITS, parseUbcAmount } from '../agent/protocol.ts';
import { limitOrThrow } from '../agent/sim-state.ts';
import { parseBarrierLimit } from '../agent/validate.ts';
import { checkLimitChange } from '../src/ubc-value.ts';

function botTakes(resource: string, value: string): boolean {
  try {
    checkLimitChange(resource, value);
    return true;
  } catch {
    return false;
  }
}

function agentTakes(resource: string, value: string): boolean {
  try {
    parseBarrierLimit(value, resource);
    return true;
  } catch {
    return false;
  }
}

function simTakes(resource: string, value: string): boolean {
  try {
    limitOrThrow(resource, value);
    return true;
  } catch {
    return false;
  }
}

const TAKEN: [string, string][] = [
  ['kmemsize', '0'],
  ['kmemsize', '14372700'],
  ['kmemsize', '14M:16M'],
  ['kmemsize', '1T'],
  ['kmemsize', '2g'],
  ['kmemsize', '512k:unlimited'],
  ['kmemsize', '4096B'],
  ['kmemsize', '10P'],
  ['privvmpages', '5M:6M'],
  ['privvmpages', '1T'],
  ['privvmpages', '8192B'],
  ['privvmpages', '49152:53575'],
  ['numproc', '65:65'],
  ['numproc', 'unlimited'],
  ['kmemsize', '9223372036854775807'],
  ['privvmpages', '8388607T'],
];

const REFUSED: [string, string][] = [
  ['kmemsize', '10Q'],
  ['kmemsize', '-1'],
  ['kmemsize', '1.5G'],
  ['kmemsize', ' 1G'],
  ['kmemsize', '1 G'],
  ['kmemsize', '0101'],
  ['kmemsize', '0x10'],
  ['kmemsize', '1e3'],
  ['kmemsize', 'Unlimited'],
  ['kmemsize', '1GB'],
  ['kmemsize', ''],
  ['kmemsize', '1:'],
  ['kmemsize', '1:2:3'],
  ['kmemsize', '9223372036854775808'],
  ['kmemsize', '8388608T'],
  ['numproc', '1K'],
  ['numproc', '100B'],
  ['numproc', '1P'],
];

describe('beancounter spellings', () => {
  for (const [resource, value] of TAKEN) {
    it(`bot, agent and simulator all take ${resource} ${JSON.stringify(value)}`, () => {
      assert.deepEqual(
        [botTakes(resource, value), agentTakes(resource, value), simTakes(resource, value)],
        [true, true, true],
      );
    });
  }

  for (const [resource, value] of REFUSED) {
    it(`bot, agent and simulator all refuse ${resource} ${JSON.stringify(value)}`, () => {
      assert.deepEqual(
        [botTakes(resource, value), agentTakes(resource, value), simTakes(resource, value)],
        [false, false, false],
      );
    });
  }

  it('agrees on every suffix for every resource', () => {
    for (const resource of Object.keys(RESOURCE_UNITS)) {
      for (const suffix of ['', 'K', 'M', 'G', 'T', 'P', 'B', 'k', 'b', 'X']) {
        const value = `3${suffix}`;
        const bot = botTakes(resource, value);
        assert.equal(agentTakes(resource, value), bot, `${resource} ${value}`);
        assert.equal(simTakes(resource, value), bot, `${resource} ${value}`);
      }
    }
  });

  it('converts each suffix to the resource unit as vzctl does', () => {
    assert.deepEqual(parseUbcAmount('1T', 'bytes'), { value: 1n << 40n });
    assert.deepEqual(parseUbcAmount('3P', 'bytes'), { value: 3n * 4096n });
    assert.deepEqual(parseUbcAmount('10B', 'bytes'), { value: 10n });
    assert.deepEqual(parseUbcAmount('1G', 'pages'), { value: 262144n });
    assert.deepEqual(parseUbcAmount('4097B', 'pages'), { value: 1n });
    assert.deepEqual(parseUbcAmount('7', 'pages'), { value: 7n });
    assert.deepEqual(parseUbcAmount('unlimited', 'items'), { value: LONG_MAX });
    assert.deepEqual(parseUbcAmount('1K', 'items'), { problem: 'items-suffix' });
    assert.deepEqual(limitOrThrow('privvmpages', '5M:6M'), { barrier: '1280', limit: '1536' });
  });
});
