import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import {
  formatBeancounters,
  parseBeancounterBlocks,
  type BeancounterBlock,
} from '../agent/beancounters.ts';
import { builtinHandlers } from '../agent/commands.ts';
import { DriverError, type CreateSpec, type Driver } from '../agent/driver.ts';
import { Dispatcher } from '../agent/handlers.ts';
import type { AgentResponse } from '../agent/protocol.ts';
import { createSimDriver, type SimOptions } from '../agent/sim.ts';

const logger = pino({ level: 'silent' });

/** Runs one request line through the agent's dispatcher and command table. */
function dispatch(driver: Driver, command: string, args: unknown[]): Promise<AgentResponse> {
  const settings = { name: 'node1', domain: null, limits: {} };
  const dispatcher = new Dispatcher({ driver, settings, logger, handlers: builtinHandlers() });
  return dispatcher.handleLine(JSON.stringify({ command, arguments: args, id: command }));
}

function spec(id: number, extra: Partial<CreateSpec> = {}): CreateSpec {
  return {
    id,
    template: 'debian-12-x86_64-minimal',
    hostname: `ve${id}.lab`,
    address: `10.0.0.${id % 250}`,
    nameservers: ['10.0.0.1'],
    searchdomain: 'lab',
    limits: {},
    ...extra,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: number, line?: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DriverError, `expected a DriverError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (line !== undefined) {
      assert.deepEqual(error.lines, [line]);
    }
    return true;
  });
}

describe('sim driver', () => {
  let root: string;
  let clock: Date;
  const drivers: Driver[] = [];

  async function open(extra: Partial<SimOptions> = {}): Promise<Driver> {
    const driver = await createSimDriver({
      stateDir: path.join(root, 'state'),
      templatesDir: path.join(root, 'templates'),
      loadIntervalMs: 0,
      logger,
      now: () => clock,
      ...extra,
    });
    drivers.push(driver);
    return driver;
  }

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-sim-'));
    clock = new Date('2025-03-01T10:00:00.000Z');
  });

  after(async () => {
    await Promise.all(drivers.map((driver) => driver.close()));
    await rm(root, { recursive: true, force: true });
  });

  it('writes real gzip tarballs into an empty template dir and lists them', async () => {
    const driver = await open();
    assert.deepEqual(await driver.templates(), [
      'debian-12-x86_64-minimal',
      'ubuntu-22.04-x86_64-minimal',
    ]);
    const tarball = path.join(root, 'templates', 'debian-12-x86_64-minimal.tar.gz');
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
    assert.match(listing, /^\.\/etc\/os-release$/m);
    assert.match(listing, /^\.\/sbin\/init$/m);
  });

  it('leaves a template dir that already holds templates alone', async () => {
    const dir = path.join(root, 'own-templates');
    const driver = await open({ templatesDir: dir, stateDir: path.join(root, 'other-state') });
    await writeFile(path.join(dir, 'extra.tar.xz'), 'x');
    await open({ templatesDir: dir, stateDir: path.join(root, 'other-state') });
    assert.equal((await readdir(dir)).length, 3);
    assert.deepEqual(await driver.templates(), [
      'debian-12-x86_64-minimal',
      'extra',
      'ubuntu-22.04-x86_64-minimal',
    ]);
  });

  it('creates a stopped VE and refuses a second create with 44', async () => {
    const driver = await open();
    const status = await driver.create(spec(101));
    assert.deepEqual(status, {
      id: 101,
      state: 'stopped',
      address: '10.0.0.101',
      hostname: 've101.lab',
      startedAt: null,
    });
    const exists = 'Private area already exists in /vz/private/101';
    await rejectsWith(driver.create(spec(101)), 44, exists);
  });

  it('refuses a template that is not in the cache with 91', async () => {
    const driver = await open();
    await rejectsWith(driver.create(spec(150, { template: 'gentoo' })), 91);
    assert.equal((await driver.status(150)).state, 'absent');
  });

  it('answers 14 for every operation on an unknown VE, and absent for status', async () => {
    const driver = await open();
    const unknown = 'Container config file does not exist';
    await rejectsWith(driver.start(999), 14, unknown);
    await rejectsWith(driver.stop(999), 14, unknown);
    await rejectsWith(driver.restart(999), 14, unknown);
    await rejectsWith(driver.remove(999), 14, unknown);
    await rejectsWith(driver.set(999, 'numproc', '100'), 14, unknown);
    assert.deepEqual(await driver.status(999), {
      id: 999,
      state: 'absent',
      address: null,
      hostname: null,
      startedAt: null,
    });
  });

  it('starts, refuses a second start with 32, stops twice and restarts', async () => {
    const driver = await open();
    await driver.create(spec(102));

    const started = await driver.start(102);
    assert.equal(started.state, 'running');
    assert.equal(started.startedAt, '2025-03-01T10:00:00.000Z');
    await rejectsWith(driver.start(102), 32, 'Container is already running');

    const stopped = await driver.stop(102);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.notes, undefined, 'a stop that stopped something says nothing more');
    const again = await driver.stop(102);
    assert.equal(again.state, 'stopped', 'stop on a stopped VE succeeds, as vzctl does');
    assert.deepEqual(again.notes, ['Unable to stop: container is not running']);

    const answer = await dispatch(driver, 'stop', [102]);
    assert.equal(answer.code, 0);
    assert.deepEqual(answer.returned, [
      {
        id: 102,
        state: 'stopped',
        address: '10.0.0.102',
        hostname: 've102.lab',
        startedAt: null,
      },
      'Unable to stop: container is not running',
    ]);

    clock = new Date('2025-03-01T11:00:00.000Z');
    const restarted = await driver.restart(102);
    assert.equal(restarted.state, 'running');
    assert.equal(restarted.startedAt, '2025-03-01T11:00:00.000Z');
    clock = new Date('2025-03-01T12:00:00.000Z');
    assert.equal((await driver.restart(102)).startedAt, '2025-03-01T12:00:00.000Z');
  });

  it('remove stops a running VE, then destroys it and its beancounters', async () => {
    const driver = await open();
    await driver.create(spec(103));
    await driver.start(103);
    await driver.remove(103);
    assert.equal((await driver.status(103)).state, 'absent');
    assert.deepEqual(await driver.ubc(103), []);
    await rejectsWith(driver.remove(103), 14);
  });

  it('keeps its VEs for a new driver on the same state dir', async () => {
    const first = await open();
    await first.create(spec(104));
    await first.start(104);
    const before = await first.list();
    await first.close();

    const second = await open();
    assert.deepEqual(await second.list(), before);
    assert.equal((await second.status(104)).state, 'running');
    assert.deepEqual(
      before.map((ve) => ve.id),
      [...before.map((ve) => ve.id)].sort((a, b) => a - b),
    );
  });

  it('writes the kernel format with the host block and reports only VE rows', async () => {
    const driver = await open();
    const text = await readFile(path.join(root, 'state', 'user_beancounters'), 'utf8');
    assert.match(text, /^Version: 2\.5\n {7}uid {2}resource {21}held/);
    const ids = parseBeancounterBlocks(text).map((block) => block.id);
    assert.ok(ids.includes('0'));

    const rows = await driver.ubc();
    assert.ok(rows.length > 0);
    assert.ok(rows.every((row) => row.ve !== '0' && row.resource !== 'dummy'));
    assert.ok((await driver.ubc(104)).every((row) => row.ve === '104'));
  });

  it('reports what the file on disk says, even when someone rewrote it', async () => {
    const stateDir = path.join(root, 'rewrite-state');
    const driver = await open({ stateDir });
    await driver.create(spec(104));
    const file = path.join(stateDir, 'user_beancounters');
    const blocks: BeancounterBlock[] = [
      {
        id: '104',
        rows: [
          { resource: 'numproc', held: 5, maxheld: 240, barrier: 240, limit: 240, failcnt: 7 },
        ],
      },
    ];
    await writeFile(file, formatBeancounters(blocks));
    const expected = { held: 5, maxheld: 240, barrier: 240, limit: 240, failcnt: 7 };
    assert.deepEqual(await driver.ubc(104), [{ ve: '104', resource: 'numproc', ...expected }]);

    // A set on a row the rewritten file lacks adds it, as the kernel always shows every row.
    await driver.set(104, 'numfile', '100');
    const rows = await driver.ubc(104);
    assert.deepEqual(
      rows.map((row) => [row.resource, row.failcnt, row.limit]),
      [
        ['numproc', 7, 240],
        ['numfile', 0, 100],
      ],
    );
  });

  it('zeroes held, maxheld and failcnt when a VE stops', async () => {
    const driver = await open();
    await driver.stop(104);
    const rows = await driver.ubc(104);
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.deepEqual([row.held, row.maxheld, row.failcnt], [0, 0, 0], row.resource);
    }
  });

  it('set converts suffixes and unlimited, and refuses what vzctl refuses with 21', async () => {
    const driver = await open();
    await driver.set(104, 'privvmpages', '1G', '2G');
    await driver.set(104, 'kmemsize', '16M');
    await driver.set(104, 'numproc', 'unlimited');
    const rows = Object.fromEntries((await driver.ubc(104)).map((row) => [row.resource, row]));
    assert.deepEqual([rows.privvmpages.barrier, rows.privvmpages.limit], [262144, 524288]);
    assert.deepEqual([rows.kmemsize.barrier, rows.kmemsize.limit], [16777216, 16777216]);
    assert.deepEqual([rows.numproc.barrier, rows.numproc.limit], ['unlimited', 'unlimited']);
    await rejectsWith(driver.set(104, 'numproc', '10K'), 21, 'Bad parameter for --numproc: 10K');
  });

  it('keeps swappages in its state only: the beancounters file never shows it', async () => {
    const stateDir = path.join(root, 'swap-state');
    const driver = await open({ stateDir });
    await driver.create(spec(106));
    await driver.start(106);
    await driver.set(106, 'swappages', '1G');
    await driver.set(106, 'physpages', '0', '512M');

    const text = await readFile(path.join(stateDir, 'user_beancounters'), 'utf8');
    assert.doesNotMatch(text, /swappages/);
    assert.match(text, /physpages +\d+ +\d+ +0 +131072 /);
    const resources = (await driver.ubc(106)).map((row) => row.resource);
    assert.ok(resources.includes('physpages'));
    assert.ok(!resources.includes('swappages'));

    const state = JSON.parse(await readFile(path.join(stateDir, 'sim-state.json'), 'utf8')) as {
      ves: Record<string, { limits: Record<string, unknown> }>;
    };
    assert.deepEqual(state.ves['106']?.limits.swappages, { barrier: '262144', limit: '262144' });
    await rejectsWith(driver.set(106, 'swappages', '1X'), 21, 'Bad parameter for --swappages: 1X');
  });

  it('applies the limits given at create', async () => {
    const driver = await open();
    await driver.create(spec(105, { limits: { numproc: '64:80', physpages: '0:256M' } }));
    const rows = Object.fromEntries((await driver.ubc(105)).map((row) => [row.resource, row]));
    assert.deepEqual([rows.numproc.barrier, rows.numproc.limit], [64, 80]);
    assert.deepEqual([rows.physpages.barrier, rows.physpages.limit], [0, 65536]);
  });

  it('moves counters under load until failcnt grows on a running VE', async () => {
    const driver = await open({
      stateDir: path.join(root, 'load-state'),
      loadIntervalMs: 5,
    });
    await driver.create(spec(110));
    await driver.create(spec(111));
    await driver.start(110);

    const deadline = Date.now() + 5000;
    let failures = 0;
    while (failures === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const rows = await driver.ubc(110);
      failures = rows.reduce((sum, row) => sum + row.failcnt, 0);
    }
    assert.ok(failures > 0, 'failcnt never grew');

    const stopped = await driver.ubc(111);
    assert.ok(stopped.every((row) => row.held === 0 && row.failcnt === 0));
    await driver.close();
  });
});
