import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';

import { DriverError } from '../agent/driver.ts';
import { AddressPool, PoolExhaustedError, parsePool } from '../agent/provision/addresses.ts';
import { KeyedMutex, Mutex } from '../agent/mutex.ts';
import { StepFailedError, runSteps, type Step } from '../agent/provision/steps.ts';
import { AgentCode } from '../agent/protocol.ts';

const quiet = pino({ level: 'silent' });

/** Steps that write what they do into `journal`; `failAt` names the one whose `do` throws. */
function journaled(names: string[], journal: string[], failAt?: string, error?: Error): Step[] {
  return names.map((name) => ({
    name,
    do: async () => {
      if (name === failAt) {
        throw error ?? new Error(`${name} broke`);
      }
      journal.push(`do ${name}`);
    },
    undo: async () => {
      journal.push(`undo ${name}`);
    },
  }));
}

describe('runSteps', () => {
  it('runs every step in order when none fails', async () => {
    const journal: string[] = [];
    await runSteps(journaled(['a', 'b', 'c'], journal), quiet);
    assert.deepEqual(journal, ['do a', 'do b', 'do c']);
  });

  it('undoes the steps before the failing one in reverse and names the failing step', async () => {
    const journal: string[] = [];
    const error = await runSteps(journaled(['a', 'b', 'c', 'd'], journal, 'c'), quiet).catch(
      (caught: unknown) => caught,
    );

    assert.ok(error instanceof StepFailedError);
    assert.deepEqual(journal, ['do a', 'do b', 'undo b', 'undo a']);
    assert.equal(error.step, 'c');
    assert.equal(error.code, AgentCode.STEP_FAILED);
    assert.deepEqual(error.rolledBack, ['b', 'a']);
    assert.deepEqual(error.lines, ['step "c" failed: c broke', 'rolled back: b, a']);
  });

  it('passes vzctl exit statuses through, but not agent codes', async () => {
    const vzctl = new DriverError(91, ['Cached OS template x not found']);
    const fromVzctl = await runSteps(journaled(['a', 'b'], [], 'b', vzctl), quiet).catch(
      (caught: unknown) => caught,
    );
    assert.ok(fromVzctl instanceof StepFailedError);
    assert.equal(fromVzctl.code, 91);
    assert.match(fromVzctl.lines[0] ?? '', /Cached OS template x not found/);

    const agent = new DriverError(AgentCode.TIMEOUT, ['took too long']);
    const fromAgent = await runSteps(journaled(['a'], [], 'a', agent), quiet).catch(
      (caught: unknown) => caught,
    );
    assert.ok(fromAgent instanceof StepFailedError);
    assert.equal(fromAgent.code, AgentCode.STEP_FAILED);
    assert.deepEqual(fromAgent.rolledBack, []);
  });

  it('keeps undoing past an undo that fails, and reports it', async () => {
    const journal: string[] = [];
    const steps = journaled(['a', 'b', 'c', 'd'], journal, 'd');
    const b = steps[1];
    assert.ok(b);
    b.undo = async () => {
      throw new Error('b is stuck');
    };

    const error = await runSteps(steps, quiet).catch((caught: unknown) => caught);
    assert.ok(error instanceof StepFailedError);
    assert.deepEqual(journal, ['do a', 'do b', 'do c', 'undo c', 'undo a']);
    assert.deepEqual(error.rolledBack, ['c', 'a']);
    assert.deepEqual(error.undoFailures, [{ step: 'b', message: 'b is stuck' }]);
    assert.match(error.lines.at(-1) ?? '', /could not undo "b": b is stuck; clean it up by hand/);
  });
});

describe('Mutex', () => {
  it('runs work one at a time, in arrival order, past failures', async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    let inside = 0;
    const job = (name: string, fail = false) =>
      mutex.run(async () => {
        inside++;
        assert.equal(inside, 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push(name);
        inside--;
        if (fail) {
          throw new Error(name);
        }
      });

    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    assert.deepEqual(order, ['a', 'b', 'c']);
    const statuses = results.map((result) => result.status);
    assert.deepEqual(statuses, ['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe('KeyedMutex', () => {
  it('queues work under one key and lets other keys run alongside', async () => {
    const locks = new KeyedMutex();
    const running = new Map<string, number>();
    let most = 0;
    const job = (key: string) =>
      locks.run(key, async () => {
        running.set(key, (running.get(key) ?? 0) + 1);
        assert.equal(running.get(key), 1, `two jobs at once under ${key}`);
        most = Math.max(most, [...running.values()].reduce((a, b) => a + b, 0));
        await new Promise((resolve) => setTimeout(resolve, 5));
        running.set(key, (running.get(key) ?? 1) - 1);
      });

    await Promise.all([job('/a'), job('/a'), job('/b'), job('/b')]);
    assert.equal(most, 2);
  });
});

describe('address pool', () => {
  it('reads CIDR blocks without network and broadcast, and inclusive ranges', () => {
    assert.deepEqual(parsePool('10.0.5.0/30'), { first: 0x0a000501, last: 0x0a000502 });
    assert.deepEqual(parsePool('10.0.5.77/24'), { first: 0x0a000501, last: 0x0a0005fe });
    assert.deepEqual(parsePool('10.0.5.10-10.0.5.12'), { first: 0x0a00050a, last: 0x0a00050c });
  });

  it('refuses pools it cannot use, saying how to write one', () => {
    for (const bad of ['10.0.5.0', '10.0.5.0/31', '10.0.5.300/24', '10.0.5.9-10.0.5.1', 'x']) {
      assert.throws(() => parsePool(bad), /network\.pool .*10\.0\.5\.0\/24/);
    }
  });

  it('skips every address a source names and claims under the lock', async () => {
    const claimed: string[] = [];
    const pool = new AddressPool('10.0.5.1-10.0.5.20', [
      async () => ['10.0.5.1', null, '192.168.1.1'],
      async () => claimed,
    ]);

    // Each claim is slow, so without the lock all ten would read the same empty ledger.
    const claim = async (address: string) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      claimed.push(address);
      return address;
    };
    const got = await Promise.all(Array.from({ length: 10 }, () => pool.allocate(claim)));

    assert.equal(new Set(got).size, 10);
    assert.ok(!got.includes('10.0.5.1'));
    assert.equal(got.sort()[0], '10.0.5.10');
  });

  it('says the pool is exhausted and what to do about it', async () => {
    const pool = new AddressPool('10.0.5.1-10.0.5.2', [async () => ['10.0.5.1', '10.0.5.2']]);
    await assert.rejects(pool.allocate(async (address) => address), (error: unknown) => {
      assert.ok(error instanceof PoolExhaustedError);
      assert.match(error.message, /no free address .* widen the pool/);
      return true;
    });
  });
});
