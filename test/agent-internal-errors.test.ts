/**
 * Code 1007 is a broken node or a bug: the answer names a reference and nothing else, the
 * agent's log has the details under that reference at error level. vzctl's own failures (codes
 * below 256) still answer with its stderr lines. Real parts: the dispatcher and command table
 * the agent runs, the vzctl driver and the fake vzctl/vzlist.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

import { builtinHandlers } from '../agent/commands.ts';
import { Dispatcher } from '../agent/handlers.ts';
import { AgentCode, type AgentResponse } from '../agent/protocol.ts';
import { SAFE_PATH } from '../agent/run.ts';
import { createVzctlDriver, type VzctlOptions } from '../agent/vzctl.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/fake-vz');
const REFERENCE = /^internal agent error \(reference ([0-9a-f]{8})\); the agent's log has the/;

interface LogRecord {
  level: number;
  msg: string;
  ref?: string;
  command?: string;
  ve?: number | null;
  lines?: string[];
  err?: { message: string };
}

let dir: string;
const records: LogRecord[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      records.push(JSON.parse(chunk.toString()) as LogRecord);
      done();
    },
  }),
);

function dispatcher(extra: Partial<VzctlOptions> = {}): Dispatcher {
  const driver = createVzctlDriver({
    vzctl: path.join(FAKE, 'vzctl'),
    vzlist: path.join(FAKE, 'vzlist'),
    beancounters: path.join(dir, 'ubc.txt'),
    templatesDir: path.join(dir, 'template/cache'),
    logger,
    env: { FAKE_VZ_DIR: dir, PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}` },
    ...extra,
  });
  const settings = { name: 'node1', domain: null, limits: {} };
  return new Dispatcher({ driver, settings, logger, handlers: builtinHandlers() });
}

async function ask(target: Dispatcher, command: string, args: unknown[]): Promise<AgentResponse> {
  return target.handleLine(JSON.stringify({ command, arguments: args, id: command }));
}

/** The answer is one generic line; the error record under its reference holds `detail`. */
function assertReferenced(answer: AgentResponse, command: string, detail: RegExp): LogRecord {
  assert.equal(answer.code, AgentCode.INTERNAL);
  assert.equal(answer.returned.length, 1, JSON.stringify(answer.returned));
  const ref = REFERENCE.exec(String(answer.returned[0]))?.[1];
  assert.ok(ref, `no reference in ${JSON.stringify(answer.returned)}`);
  assert.doesNotMatch(JSON.stringify(answer.returned), /\/|ENOENT|line \d|fields|cannot/);

  const record = records.find((entry) => entry.ref === ref);
  assert.ok(record, `no log record with ref ${ref}`);
  assert.equal(record.level, 50, 'logged at error level');
  assert.equal(record.command, command);
  const details = JSON.stringify(record.lines ?? record.err);
  assert.match(details, detail);
  return record;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-internal-'));
  await mkdir(path.join(dir, 'template/cache'), { recursive: true });
  await writeFile(path.join(dir, 'template/cache/debian-12.tar.gz'), '');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('1007 answers a reference, the log has the details', () => {
  it('a beancounters file that does not parse', async () => {
    const header = '       uid  resource held maxheld barrier limit failcnt';
    await writeFile(path.join(dir, 'ubc.txt'), `Version: 2.5\n${header}\n 101: numproc 1 2 3\n`);
    const answer = await ask(dispatcher(), 'ubc', []);
    assertReferenced(answer, 'ubc', /ubc\.txt: line 3/);
  });

  it('a beancounters file that is missing', async () => {
    await rm(path.join(dir, 'ubc.txt'), { force: true });
    const answer = await ask(dispatcher(), 'ubc', [101]);
    const record = assertReferenced(answer, 'ubc', /cannot read .*ubc\.txt: ENOENT/);
    assert.equal(record.ve, 101);
  });

  it('a vzctl that cannot be run', async () => {
    const broken = dispatcher({ vzctl: path.join(dir, 'no-such-vzctl') });
    const answer = await ask(broken, 'start', [101]);
    const record = assertReferenced(answer, 'start', /cannot run .*no-such-vzctl: spawn/);
    assert.equal(record.ve, 101);
  });

  it('a vzlist whose output is not JSON', async () => {
    const vzlist = path.join(dir, 'broken-vzlist');
    await writeFile(vzlist, '#!/bin/sh\necho \'[{"description": "a "quoted" word"}]\'\n');
    await chmod(vzlist, 0o755);
    const answer = await ask(dispatcher({ vzlist }), 'list', []);
    assertReferenced(answer, 'list', /not JSON/);
  });

  it('vzctl failures keep their own code and stderr lines', async () => {
    const answer = await ask(dispatcher(), 'start', [999]);
    assert.deepEqual(answer, {
      code: 14,
      returned: ['Container config file does not exist'],
      id: 'start',
    });
  });
});
