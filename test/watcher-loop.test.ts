import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import pino from 'pino';
import { FileNode, startRig, type Gauge, type Rig } from './helpers/watcher-rig.ts';

const run = promisify(execFile);
let dir: string;
let rigs: Rig[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crewvz-watcher-loop-'));
});

afterEach(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  rigs = [];
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function nodes(count: number, gauge?: Gauge): Promise<{ list: FileNode[]; here: string }> {
  const here = await mkdtemp(join(dir, 'case-'));
  const list = Array.from({ length: count }, (_, index) =>
    new FileNode(`node${index + 1}`, here, ['101'], gauge));
  await Promise.all(list.map((node) => node.write()));
  return { list, here };
}

interface Entry {
  level: number;
  msg: string;
  reason?: string;
  err?: { type?: string; stack?: string };
}

/** A debug logger whose entries the test reads, as pino writes them. */
function capture(): { entries: Entry[]; logger: pino.Logger } {
  const entries: Entry[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      entries.push(JSON.parse(chunk.toString()) as Entry);
      done();
    },
  });
  return { entries, logger: pino({ level: 'debug' }, stream) };
}

const PINO_WARN = 40;
const PINO_DEBUG = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for a condition; the deadline is generous so a loaded machine does not fail the test. */
async function until(condition: () => boolean, deadlineMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > deadlineMs) {
      assert.fail(`condition not met within ${deadlineMs} ms`);
    }
    await sleep(10);
  }
}

describe('watcher poll loop', () => {
  it('polls at once, without waiting for the first interval', async () => {
    const { list, here } = await nodes(1);
    const rig = startRig(join(here, 'crewvz.db'), list, { intervalSeconds: 3600 });
    rigs.push(rig);

    rig.watcher.start();
    await until(() => (list[0]?.ubcCalls ?? 0) >= 1);
    await rig.watcher.stop();
    assert.equal(list[0]?.ubcCalls, 1);
  });

  it('polls again every interval, and not after stop()', async () => {
    const { list, here } = await nodes(1);
    const rig = startRig(join(here, 'crewvz.db'), list, { intervalSeconds: 0.05 });
    rigs.push(rig);

    rig.watcher.start();
    await until(() => (list[0]?.ubcCalls ?? 0) >= 3);
    await rig.watcher.stop();
    const calls = list[0]?.ubcCalls ?? 0;

    await sleep(200);
    assert.equal(list[0]?.ubcCalls, calls, 'a poll ran after stop()');
  });

  it('never overlaps polls, even when a node answers slower than the interval', async () => {
    const gauge = { active: 0, max: 0 };
    const { list, here } = await nodes(1, gauge);
    list[0]!.delayMs = 80;
    const rig = startRig(join(here, 'crewvz.db'), list, { intervalSeconds: 0.01 });
    rigs.push(rig);

    rig.watcher.start();
    const joined = rig.watcher.pollOnce();
    await until(() => (list[0]?.ubcCalls ?? 0) >= 3);
    await joined;
    await rig.watcher.stop();
    assert.equal(gauge.max, 1);
  });

  it('polls at most `concurrency` nodes at once', async () => {
    const gauge = { active: 0, max: 0 };
    const { list, here } = await nodes(5, gauge);
    for (const node of list) {
      node.delayMs = 30;
    }
    const rig = startRig(join(here, 'crewvz.db'), list, { concurrency: 2 });
    rigs.push(rig);

    await rig.watcher.pollOnce();
    assert.equal(gauge.max, 2);
    assert.deepEqual(list.map((node) => node.ubcCalls), [1, 1, 1, 1, 1]);
  });

  it('counts a nonsense answer as a failed poll and says why', async () => {
    const { list, here } = await nodes(1);
    const rig = startRig(join(here, 'crewvz.db'), list, { unreachableAfter: 2 });
    rigs.push(rig);
    list[0]!.ubcAnswer = [{ ve: '101', resource: 'numproc', failcnt: 'many' }];

    await rig.watcher.pollOnce();
    await rig.watcher.pollOnce();
    assert.match(
      rig.notifier.take()[0]?.lines[0] ?? '',
      /^Node node1 is unreachable: 2 polls .*unexpected answer to ubc: row 0 is not a beancounter/,
    );
    assert.equal(rig.store.loadNode('node1').baselines.size, 0);
  });

  it('logs the failed polls of an unreachable node at debug, never as a warning', async () => {
    const { list, here } = await nodes(1);
    const log = capture();
    const rig = startRig(join(here, 'crewvz.db'), list, { logger: log.logger });
    rigs.push(rig);
    list[0]!.down = true;

    for (let polls = 0; polls < 4; polls += 1) {
      await rig.watcher.pollOnce();
    }
    const failures = log.entries.filter((entry) => /poll failed/.test(entry.msg));
    assert.equal(failures.length, 4);
    assert.ok(failures.every((entry) => entry.level === PINO_DEBUG && entry.err === undefined));
    assert.match(failures[0]?.reason ?? '', /node node1 is unreachable \(connect ECONNREFUSED\)/);
    assert.deepEqual(log.entries.filter((entry) => entry.level >= PINO_WARN), []);
  });

  it('logs any other repeated poll failure with its stack once, then its message', async () => {
    const { list, here } = await nodes(1);
    const log = capture();
    const rig = startRig(join(here, 'crewvz.db'), list, { logger: log.logger });
    rigs.push(rig);
    list[0]!.ubcAnswer = [{ ve: '101', resource: 'numproc', failcnt: 'many' }];

    for (let polls = 0; polls < 3; polls += 1) {
      await rig.watcher.pollOnce();
    }
    const warnings = log.entries.filter((entry) => entry.level === PINO_WARN);
    assert.equal(warnings.length, 3);
    assert.equal(warnings[0]?.err?.type, 'UnexpectedAnswerError');
    assert.match(warnings[0]?.err?.stack ?? '', /row 0 is not a beancounter/);
    for (const repeat of warnings.slice(1)) {
      assert.equal(repeat.err, undefined, 'no stack for an error seen on the last poll');
      assert.match(repeat.reason ?? '', /unexpected answer to ubc: row 0 is not a beancounter/);
    }

    // An answer in between: the next failure is news again, with its stack.
    list[0]!.ubcAnswer = undefined;
    await rig.watcher.pollOnce();
    list[0]!.ubcAnswer = [{ ve: '101', resource: 'numproc', failcnt: 'many' }];
    await rig.watcher.pollOnce();
    const last = log.entries.filter((entry) => entry.level === PINO_WARN).at(-1);
    assert.equal(last?.err?.type, 'UnexpectedAnswerError');
  });

  it('does not keep the process alive while it waits for the next poll', async () => {
    const { list, here } = await nodes(1);
    const script = [
      `import { FileNode, startRig } from ${JSON.stringify(helperUrl())};`,
      `const node = new FileNode('node1', ${JSON.stringify(here)}, ['101']);`,
      'await node.write();',
      `const rig = startRig(${JSON.stringify(join(here, 'child.db'))}, [node]);`,
      'rig.watcher.start();',
      'await new Promise((resolve) => setTimeout(resolve, 100));',
      'console.log(node.ubcCalls);',
    ].join('\n');
    assert.equal(list.length, 1);

    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { timeout: 10_000 },
    );
    assert.equal(stdout.trim(), '1');
  });
});

function helperUrl(): string {
  return new URL('./helpers/watcher-rig.ts', import.meta.url).href;
}
