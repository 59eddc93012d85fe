import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { builtinHandlers } from '../agent/commands.ts';
import { DriverError, type CreateSpec, type Driver } from '../agent/driver.ts';
import { Dispatcher } from '../agent/handlers.ts';
import { AgentCode, type AgentResponse } from '../agent/protocol.ts';
import { SAFE_PATH } from '../agent/run.ts';
import { createVzctlDriver, type VzctlOptions } from '../agent/vzctl.ts';
import { parseVzlist } from '../agent/vzlist.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(HERE, 'fixtures/fake-vz');
const logger = pino({ level: 'silent' });
/** vzctl's words for a stop with nothing to stop, exactly as it prints them (facts §2.6). */
const NOT_RUNNING = 'Unable to stop: container is not running';

/** Runs one request line through the agent's dispatcher and command table. */
function dispatch(driver: Driver, command: string, args: unknown[]): Promise<AgentResponse> {
  const settings = { name: 'node1', domain: null, limits: {} };
  const dispatcher = new Dispatcher({ driver, settings, logger, handlers: builtinHandlers() });
  return dispatcher.handleLine(JSON.stringify({ command, arguments: args, id: command }));
}

function spec(id: number, extra: Partial<CreateSpec> = {}): CreateSpec {
  return {
    id,
    template: 'debian-12',
    hostname: `ve${id}.lab`,
    address: `10.1.0.${id % 250}`,
    nameservers: [],
    searchdomain: null,
    limits: {},
    ...extra,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: number, lines?: string[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DriverError, `expected a DriverError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (lines) {
      assert.deepEqual(error.lines, lines);
    }
    return true;
  });
}

describe('vzctl driver against the fake vzctl and vzlist', () => {
  let dir: string;
  let driver: Driver;

  function open(env: Record<string, string> = {}, extra: Partial<VzctlOptions> = {}): Driver {
    return createVzctlDriver({
      vzctl: path.join(FAKE, 'vzctl'),
      vzlist: path.join(FAKE, 'vzlist'),
      beancounters: path.join(dir, 'user_beancounters'),
      templatesDir: path.join(dir, 'template/cache'),
      logger,
      env: { FAKE_VZ_DIR: dir, PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}`, ...env },
      ...extra,
    });
  }

  async function lockHeld(id: number, timeoutMs = 10_000): Promise<void> {
    const file = path.join(dir, 'lock', `${id}.lck`);
    const deadline = Date.now() + timeoutMs;
    while (!/^\d+$/.test(await readFile(file, 'utf8').catch(() => ''))) {
      if (Date.now() > deadline) throw new Error(`nobody took ${file} in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function calls(): Promise<string[][]> {
    const text = await readFile(path.join(dir, 'calls.log'), 'utf8');
    return text.trim().split('\n').map((line) => JSON.parse(line) as string[]);
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-vzctl-'));
    await mkdir(path.join(dir, 'template/cache'), { recursive: true });
    await writeFile(path.join(dir, 'template/cache/debian-12.tar.gz'), '');
    await writeFile(path.join(dir, 'template/cache/centos-7.tar.xz'), '');
    driver = open();
  });

  after(async () => {
    await driver.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the template cache', async () => {
    assert.deepEqual(await driver.templates(), ['centos-7', 'debian-12']);
  });

  it('creates with one vzctl create and one vzctl set --save', async () => {
    const status = await driver.create(
      spec(101, {
        nameservers: ['10.1.0.1', '10.1.0.2'],
        searchdomain: 'lab',
        limits: { numproc: '240:240', privvmpages: '1G:unlimited' },
      }),
    );
    assert.deepEqual(status, {
      id: 101,
      state: 'stopped',
      address: '10.1.0.101',
      hostname: 've101.lab',
      startedAt: null,
    });
    const vzctl = (await calls()).filter((call) => call[0] === 'vzctl');
    assert.deepEqual(vzctl, [
      ['vzctl', 'create', '101', '--ostemplate', 'debian-12', '--ipadd', '10.1.0.101',
        '--hostname', 've101.lab'],
      ['vzctl', 'set', '101', '--nameserver', '10.1.0.1', '--nameserver', '10.1.0.2',
        '--searchdomain', 'lab', '--numproc', '240:240', '--privvmpages', '1G:unlimited', '--save'],
    ]);
    const conf = await readFile(path.join(dir, 'conf/101.conf'), 'utf8');
    assert.match(conf, /^PRIVVMPAGES="262144:9223372036854775807"$/m);
  });

  it('skips vzctl set when there is nothing to set', async () => {
    await driver.create(spec(102));
    const last = (await calls()).at(-2);
    assert.deepEqual(last?.slice(0, 3), ['vzctl', 'create', '102']);
    assert.deepEqual((await calls()).at(-1), ['vzlist', '-a', '-j']);
  });

  it('passes vzctl exit statuses through with its stderr lines', async () => {
    await rejectsWith(driver.create(spec(101)), 44, [
      'Private area already exists in /vz/private/101',
    ]);
    await rejectsWith(driver.create(spec(150, { template: 'gentoo' })), 91, [
      'Cached OS template /vz/template/cache/gentoo.tar[.gz|.bz2|.xz] not found',
    ]);
    const unknown = ['Container config file does not exist'];
    await rejectsWith(driver.start(999), 14, unknown);
    await rejectsWith(driver.stop(999), 14, unknown);
    await rejectsWith(driver.restart(999), 14, unknown);
    await rejectsWith(driver.remove(999), 14, unknown);
    await rejectsWith(driver.set(999, 'numproc', '100'), 14, unknown);
    await rejectsWith(driver.set(101, 'numproc', '10K'), 21, ['Bad parameter for --numproc: 10K']);
    assert.equal((await driver.status(999)).state, 'absent');
  });

  it('destroys a VE again when its settings cannot be saved', async () => {
    await rejectsWith(driver.create(spec(103, { limits: { numproc: '10K' } })), 21);
    assert.equal((await driver.status(103)).state, 'absent');
  });

  it('starts, refuses a second start with 32, stops twice and restarts', async () => {
    const before = Date.now();
    const started = await driver.start(101);
    assert.equal(started.state, 'running');
    assert.ok(started.startedAt);
    const at = Date.parse(started.startedAt);
    assert.ok(Math.abs(at - before) <= 2000, `startedAt ${started.startedAt} is off`);
    assert.equal(at % 1000, 0, 'startedAt is rounded to the second');

    await rejectsWith(driver.start(101), 32, ['Container is already running']);
    assert.equal((await driver.stop(101)).state, 'stopped');
    assert.equal((await driver.stop(101)).state, 'stopped');
    assert.equal((await driver.restart(101)).state, 'running');
    assert.deepEqual(
      (await driver.list()).map((ve) => [ve.id, ve.state]),
      [
        [101, 'running'],
        [102, 'stopped'],
      ],
    );
  });

  it('sets a limit with --save', async () => {
    await driver.set(102, 'kmemsize', '16M', '20M');
    await driver.set(102, 'numfile', 'unlimited');
    const conf = await readFile(path.join(dir, 'conf/102.conf'), 'utf8');
    assert.match(conf, /^KMEMSIZE="16777216:20971520"$/m);
    assert.match(conf, /^NUMFILE="9223372036854775807:9223372036854775807"$/m);
  });

  it('remove stops a running VE and then destroys it', async () => {
    await driver.start(102);
    await driver.remove(102);
    assert.equal((await driver.status(102)).state, 'absent');
    const vzctl = (await calls()).filter((call) => call[0] === 'vzctl').slice(-2);
    assert.deepEqual(vzctl, [
      ['vzctl', 'stop', '102'],
      ['vzctl', 'destroy', '102'],
    ]);
  });

  it('the remove command runs vzctl stop once, then destroy', async () => {
    await driver.create(spec(104));
    await driver.start(104);
    const before = (await calls()).length;
    const answer = await dispatch(driver, 'remove', [104]);
    assert.deepEqual(answer, { code: 0, returned: [], id: 'remove' });
    const vzctl = (await calls()).slice(before).filter((call) => call[0] === 'vzctl');
    assert.deepEqual(vzctl, [
      ['vzctl', 'stop', '104'],
      ['vzctl', 'destroy', '104'],
    ]);
  });

  it('stop on a stopped VE answers 0 with vzctl\'s line after the status', async () => {
    await driver.create(spec(105));
    const stopped = await driver.stop(105);
    assert.equal(stopped.state, 'stopped');
    assert.deepEqual(stopped.notes, [NOT_RUNNING]);

    const answer = await dispatch(driver, 'stop', [105]);
    assert.equal(answer.code, 0);
    const [status, ...lines] = answer.returned as [Record<string, unknown>, ...string[]];
    assert.deepEqual(status, {
      id: 105,
      state: 'stopped',
      address: '10.1.0.105',
      hostname: 've105.lab',
      startedAt: null,
    });
    assert.deepEqual(lines, [NOT_RUNNING]);

    await driver.start(105);
    const real = await dispatch(driver, 'stop', [105]);
    assert.equal(real.returned.length, 1, 'a stop that stopped something says nothing more');
    await driver.remove(105);
  });

  it('reports an injected failure with its status and message', async () => {
    const failing = open({ FAKE_VZ_FAIL: 'start:47,vzlist:3' });
    await driver.stop(101);
    await rejectsWith(failing.start(101), 47, [
      'Container is broken: neither /sbin/init nor /bin/sh found',
    ]);
    await rejectsWith(failing.list(), 3, ['Unable to get container list']);
  });

  it('kills a hung stop on time while another VE and a second vzctl go on', async () => {
    await driver.create(spec(201));
    await driver.create(spec(202));
    await driver.start(201);
    // Room for two more fake vzctl processes to start on a loaded machine before it fires.
    const hanging = open({ FAKE_VZ_HANG: 'stop' }, { timeouts: { stopMs: 4000 } });

    const events: string[] = [];
    const stop = hanging.stop(201).then(
      () => events.push('stop resolved'),
      (error: unknown) => {
        events.push('stop timed out');
        return error;
      },
    );
    // The fake writes its pid into the VE's lock file before it hangs.
    await lockHeld(201);

    // vzctl's own lock refuses a second vzctl on the locked VE...
    await rejectsWith(driver.start(201), 9, ['Container already locked']);
    // ...while a VE nobody holds starts at once.
    assert.equal((await hanging.start(202)).state, 'running');
    events.push('other VE started');

    const error = await stop;
    assert.deepEqual(events, ['other VE started', 'stop timed out']);
    assert.ok(error instanceof DriverError);
    assert.equal(error.code, AgentCode.TIMEOUT);

    // The killed vzctl left a stale lock; the next vzctl takes it over.
    assert.equal((await driver.stop(201)).state, 'stopped');
  });

  it('gives restart a stop\'s and a start\'s time, as it is both in one vzctl call', async () => {
    await driver.create(spec(203));
    // Longer than a stop may take, shorter than a stop and a start together.
    const limits = { stopMs: 1500, startMs: 1500 };
    const slow = open({ FAKE_VZ_DELAY: 'restart:2000' }, { timeouts: limits });
    assert.equal((await slow.restart(203)).state, 'running');
    await rejectsWith(
      open({ FAKE_VZ_HANG: 'restart' }, { timeouts: { stopMs: 300, startMs: 300 } }).restart(203),
      AgentCode.TIMEOUT,
      ['vzctl restart did not finish within 1 s and was killed'],
    );
    await driver.remove(203);
  });

  it('reads beancounters from the configured file', async () => {
    const file = path.join(dir, 'user_beancounters');
    await copyFile(path.join(HERE, 'fixtures/beancounters/synthetic-host-last.txt'), file);
    const rows = await driver.ubc();
    assert.equal(rows.length, 60);
    const numproc = (await driver.ubc(10000101)).find((row) => row.resource === 'numproc');
    assert.equal(numproc?.failcnt, 27);
    assert.deepEqual(await driver.ubc(4242), []);

    await writeFile(file, 'Version: 9\n');
    await rejectsWith(driver.ubc(), AgentCode.INTERNAL);
    await rm(file);
    await assert.rejects(driver.ubc(), /cannot read .*user_beancounters: ENOENT/);
  });
});

describe('parseVzlist', () => {
  it('takes ctid, status, the first ip, hostname and start time from vzlist -j', () => {
    const text = JSON.stringify([
      { ctid: 105, status: 'running', ip: ['10.0.0.5/24', '10.0.0.6'], hostname: 'a',
        uptime: 3600.4 },
      { ctid: 104, status: 'mounted', ip: [], hostname: '', uptime: 0 },
      { ctid: '7d4c1f5e-0b9a-4f2e-9a3d-5c8e6b2a1f00', status: 'running' },
    ]);
    const now = new Date('2025-03-01T12:00:00.300Z');
    assert.deepEqual(parseVzlist(text, now), [
      { id: 104, state: 'stopped', address: null, hostname: null, startedAt: null },
      { id: 105, state: 'running', address: '10.0.0.5', hostname: 'a',
        startedAt: '2025-03-01T11:00:00.000Z' },
    ]);
  });

  it('refuses output that is not a JSON array', () => {
    assert.throws(() => parseVzlist('[{"description": "a "quoted" word"}]', new Date()),
      (error: unknown) => error instanceof DriverError && error.code === AgentCode.INTERNAL);
    assert.throws(() => parseVzlist('{}', new Date()), DriverError);
  });
});
