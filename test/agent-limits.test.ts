/**
 * Work the bot's side can start at once is bounded: per connection (MAX_IN_FLIGHT, however the
 * requests arrive), and programs across the whole agent (MAX_CONCURRENT_RUNS).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Driver } from '../agent/driver.ts';
import { AgentCode, type AgentResponse } from '../agent/protocol.ts';
import { MAX_CONCURRENT_RUNS, run, runLoad } from '../agent/run.ts';
import { MAX_IN_FLIGHT } from '../agent/server.ts';
import { rawConnect, startTestAgent, type TestAgent } from './helpers/agent.ts';

let agent: TestAgent;
let running = 0;
let most = 0;

/** status takes 20 ms in the wrapped sim, so requests overlap and the peak can be seen. */
function slowStatus(driver: Driver): Driver {
  const slow = Object.create(driver) as Driver;
  slow.status = async (id: number) => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 20));
    running -= 1;
    return driver.status(id);
  };
  return slow;
}

before(async () => {
  agent = await startTestAgent({ wrap: slowStatus });
});

after(async () => {
  await agent.stop();
});

describe('requests running at once on one connection', () => {
  it('stay at MAX_IN_FLIGHT when 3000 requests come in one write; all are answered', async () => {
    const raw = await rawConnect(agent.port);
    const count = 3000;
    const lines = Array.from(
      { length: count },
      (_, index) => `{"command":"status","arguments":[${101 + index}],"id":${index}}\n`,
    );
    most = 0;
    raw.send(lines.join(''));

    const answers: AgentResponse[] = [];
    for (let index = 0; index < count; index++) {
      answers.push(await raw.next(10_000));
    }
    raw.close();

    assert.ok(most <= MAX_IN_FLIGHT, `at most ${MAX_IN_FLIGHT} at once, saw ${most}`);
    assert.ok(most >= MAX_IN_FLIGHT / 2, `requests still run side by side (saw ${most})`);
    assert.ok(answers.every((answer) => answer.code === AgentCode.OK));
    const ids = new Set(answers.map((answer) => answer.id));
    assert.equal(ids.size, count);
  });

  it('takes JSON numbers whose value is whole as IDs, as docs/agent.md says', async () => {
    const raw = await rawConnect(agent.port);
    raw.send('{"command":"status","arguments":[101.0],"id":1}\n');
    assert.equal((await raw.next()).code, AgentCode.OK);
    raw.send('{"command":"status","arguments":[1.01e2],"id":2}\n');
    assert.equal((await raw.next()).code, AgentCode.OK);
    assert.equal((await raw.request('status', ['101.0'])).code, AgentCode.INVALID_ARGUMENTS);
    assert.equal((await raw.request('status', [101.5])).code, AgentCode.INVALID_ARGUMENTS);
    raw.close();
  });
});

describe('programs running at once across the agent', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-run-slots-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`never exceed MAX_CONCURRENT_RUNS (${MAX_CONCURRENT_RUNS}); the rest wait`, async () => {
    const journal = path.join(dir, 'journal');
    // Each program notes its start and end; O_APPEND writes of one short line do not interleave.
    const script = `echo + >> ${journal}; sleep 0.2; echo - >> ${journal}`;
    const total = MAX_CONCURRENT_RUNS * 2 + 5;

    const runs = Array.from({ length: total }, () =>
      run('/bin/sh', ['-c', script], { timeoutMs: 10_000 }),
    );
    // Slots are taken when run() is called, so the limit is reached at once, without waiting.
    assert.equal(runLoad().running, MAX_CONCURRENT_RUNS);
    assert.equal(runLoad().waiting, total - MAX_CONCURRENT_RUNS);

    const results = await Promise.all(runs);
    assert.ok(results.every((result) => result.code === 0));
    let alive = 0;
    let peak = 0;
    for (const mark of (await readFile(journal, 'utf8')).split('\n').filter(Boolean)) {
      alive += mark === '+' ? 1 : -1;
      peak = Math.max(peak, alive);
    }
    // Not `===`: on a loaded machine the first programs may end before the last ones start.
    assert.ok(peak <= MAX_CONCURRENT_RUNS, `at most ${MAX_CONCURRENT_RUNS} ran at once, saw ${peak}`);
    assert.ok(peak >= 1);
    assert.deepEqual(runLoad(), { running: 0, waiting: 0 });
  });
});
