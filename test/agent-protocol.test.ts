import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { DriverError } from '../agent/driver.ts';
import { defineHandler } from '../agent/handlers.ts';
import { AgentCode, MAX_LINE_BYTES, type VeStatus } from '../agent/protocol.ts';
import { rawConnect, startTestAgent, type RawConnection, type TestAgent } from './helpers/agent.ts';
import { makeGate } from './helpers/gate.ts';

const gate = makeGate();
let agent: TestAgent;
let raw: RawConnection;
let template: string;

async function assertStillServes(): Promise<void> {
  const answer = await raw.request('ping', [], 'alive');
  assert.equal(answer.code, AgentCode.OK);
  assert.equal(answer.id, 'alive');
}

before(async () => {
  agent = await startTestAgent({
    wrap: (driver) => gate.wrap(driver),
    operationTimeoutMs: 400,
    handlers: {
      update: defineHandler<null>({
        usage: 'update',
        exclusive: false,
        parse: () => null,
        run: async () => {
          throw new DriverError(AgentCode.STEP_FAILED, ['step keys failed; rolled back']);
        },
      }),
    },
  });
  raw = await rawConnect(agent.port);
  template = ((await agent.driver.templates())[0] ?? '') as string;
  assert.ok(template, 'the sim ships at least one template');
});

after(async () => {
  gate.release();
  raw.close();
  await agent.stop();
});

beforeEach(() => gate.release());

describe('agent protocol: the command set', () => {
  it('answers ping with the node name, driver and protocol version, echoing the id', async () => {
    const answer = await raw.request('ping', [], 42);
    assert.equal(answer.code, 0);
    assert.equal(answer.id, 42);
    const [ping] = answer.returned as [{ name: string; driver: string; protocol: number }];
    assert.equal(ping.name, 'node1');
    assert.equal(ping.driver, 'sim');
    assert.equal(ping.protocol, 1);
  });

  it('creates, starts, stops, restarts, sets, lists and removes a VE', async () => {
    const created = await raw.request('create', [201, template, 'alice']);
    assert.equal(created.code, 0, JSON.stringify(created));
    const [ve] = created.returned as [VeStatus];
    assert.equal(ve.state, 'running');
    assert.equal(ve.hostname, 'alice');

    assert.equal((await raw.request('create', ['201', template, 'alice'])).code, 44);
    assert.equal((await raw.request('start', [201])).code, 32);
    const stopped = await raw.request('stop', ['201']);
    assert.equal((stopped.returned[0] as VeStatus).state, 'stopped');
    assert.equal((await raw.request('stop', [201])).code, 0, 'stop on a stopped VE is 0');
    assert.equal(((await raw.request('restart', [201])).returned[0] as VeStatus).state, 'running');
    const set = await raw.request('set', [201, 'privvmpages', '64M:unlimited']);
    assert.deepEqual(set.returned, []);
    assert.deepEqual((await raw.request('set', [201, 'numproc', '300'])).code, 0);

    const rows = (await raw.request('ubc', [201])).returned as Array<{ ve: string }>;
    assert.ok(rows.length > 0 && rows.every((row) => row.ve === '201'));
    const listed = (await raw.request('list')).returned as VeStatus[];
    assert.deepEqual(listed.map((entry) => entry.id), [201]);
    assert.ok(((await raw.request('templates')).returned as string[]).includes(template));

    assert.deepEqual((await raw.request('remove', [201])).returned, []);
    const gone = (await raw.request('status', [201])).returned[0] as VeStatus;
    assert.equal(gone.state, 'absent');
    assert.equal((await raw.request('remove', [201])).code, 14, 'unknown VE is vzctl 14');
  });

  it('destroys a new VE whose start fails, and passes on the start error', async () => {
    gate.failNext('start', new DriverError(47, ['Container is broken']));
    const answer = await raw.request('create', [202, template, 'bob']);
    assert.equal(answer.code, 47);
    assert.equal(answer.returned[0], 'Container is broken');
    assert.match(String(answer.returned[1]), /destroyed again/);
    assert.equal(((await raw.request('status', [202])).returned[0] as VeStatus).state, 'absent');
  });
});

describe('agent protocol: codes for bad requests', () => {
  it('1001 for text that is not JSON, JSON that is not an object, and invalid UTF-8', async () => {
    for (const line of ['{"command": "ping"', 'ping', '[1,2]', '"x"', '{"command": 5}']) {
      raw.send(`${line}\n`);
      const answer = await raw.next();
      assert.equal(answer.code, AgentCode.MALFORMED_JSON, line);
      await assertStillServes();
    }
    const badBytes = Buffer.from([0xff, 0xfe]);
    raw.send(Buffer.concat([Buffer.from('{"command":"pi'), badBytes, Buffer.from('ng"}\n')]));
    assert.equal((await raw.next()).code, AgentCode.MALFORMED_JSON);
    await assertStillServes();
  });

  it('1002 for an unknown command, without running anything', async () => {
    const answer = await raw.request('format-disk', [101]);
    assert.equal(answer.code, AgentCode.UNKNOWN_COMMAND);
    assert.match(String(answer.returned[0]), /unknown command 'format-disk'/);
    await assertStillServes();
  });

  it('passes 1008 from a registered provisioning handler', async () => {
    const answer = await raw.request('update', []);
    assert.equal(answer.code, AgentCode.STEP_FAILED);
    assert.deepEqual(answer.returned, ['step keys failed; rolled back']);
  });

  it('1004 for a line over 64 KiB, then serves the next line', async () => {
    raw.send(`{"command":"ping","arguments":["${'a'.repeat(MAX_LINE_BYTES + 10)}"]}\n`);
    const answer = await raw.next();
    assert.equal(answer.code, AgentCode.REQUEST_TOO_LARGE);
    await assertStillServes();
  });

  it('1007 with a generic line when the driver fails unexpectedly', async () => {
    gate.failNext('list', new Error('EACCES /secret/path'));
    const answer = await raw.request('list');
    assert.equal(answer.code, AgentCode.INTERNAL);
    assert.doesNotMatch(JSON.stringify(answer.returned), /secret/);
    await assertStillServes();
  });
});

describe('agent protocol: concurrency', () => {
  it('answers pipelined requests as they finish, matched by id', async () => {
    assert.equal((await raw.request('create', [301, template, 'carol'])).code, 0);
    await raw.request('stop', [301]);
    gate.hold('start');
    raw.send(`${JSON.stringify({ command: 'start', arguments: [301], id: 'slow' })}\n`);
    await gate.entered();
    const quick = ['p1', 'p2', 'p3'].map((id) => JSON.stringify({ command: 'ping', id }));
    raw.send(`${quick.join('\n')}\n`);

    const busy = await raw.request('stop', [301], 'busy');
    const first = [await raw.next(), await raw.next(), await raw.next()].map((a) => a.id);
    assert.deepEqual(first.sort(), ['p1', 'p2', 'p3']);
    assert.equal(busy.code, AgentCode.VE_BUSY);
    assert.match(String(busy.returned[0]), /VE 301 is busy with start/);
    assert.equal((await raw.request('status', [301])).code, 0, 'reads do not wait for the lock');

    gate.release();
    const slow = await raw.next();
    assert.equal(slow.id, 'slow');
    assert.equal((slow.returned[0] as VeStatus).state, 'running');
    await raw.request('remove', [301]);
  });

  it('1006 when an operation overruns; the VE stays busy until the driver ends', async () => {
    assert.equal((await raw.request('create', [302, template, 'dave'])).code, 0);
    gate.hold('restart');
    const answer = await raw.request('restart', [302]);
    assert.equal(answer.code, AgentCode.TIMEOUT);
    assert.equal((await raw.request('stop', [302])).code, AgentCode.VE_BUSY);

    gate.release();
    let removed = await raw.request('remove', [302]);
    for (let tries = 0; removed.code === AgentCode.VE_BUSY && tries < 50; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      removed = await raw.request('remove', [302]);
    }
    assert.equal(removed.code, 0);
  });
});

describe('agent protocol: 1003 for hostile and malformed arguments', () => {
  const longName = 'a'.repeat(300);
  const cases: Array<[string, string, () => unknown[], RegExp]> = [
    ['shell metacharacters in USERNAME', 'create', () => [401, template, 'x;rm -rf /'], /USERNAME/],
    ['command substitution in USERNAME', 'create', () => [401, template, '$(reboot)'], /USERNAME/],
    ['backticks in USERNAME', 'create', () => [401, template, '`id`'], /USERNAME/],
    ['newline in USERNAME', 'create', () => [401, template, 'a\nb'], /USERNAME/],
    ['uppercase USERNAME', 'create', () => [401, template, 'Alice'], /USERNAME/],
    ['path traversal in TEMPLATE', 'create', () => [401, '../../etc/passwd', 'a'], /TEMPLATE/],
    ['absolute TEMPLATE', 'create', () => [401, '/etc/shadow', 'a'], /TEMPLATE/],
    ['TEMPLATE with a slash', 'create', () => [401, `x/${template}`, 'a'], /TEMPLATE/],
    ['TEMPLATE with a backslash', 'create', () => [401, '..\\x', 'a'], /TEMPLATE/],
    ['hidden TEMPLATE', 'create', () => [401, '.hidden', 'a'], /TEMPLATE/],
    ['TEMPLATE not in the cache', 'create', () => [401, 'no-such-os', 'a'], /not in the/],
    ['TEMPLATE of 300 characters', 'create', () => [401, longName, 'a'], /TEMPLATE/],
    ['non-ASCII TEMPLATE', 'create', () => [401, 'débian', 'a'], /TEMPLATE/],
    ['ID as a float', 'start', () => [101.5], /ID must be an integer/],
    ['ID below the range', 'start', () => [100], /ID/],
    ['ID above the range', 'start', () => [2147483645], /ID/],
    ['huge ID', 'start', () => [1e300], /ID/],
    ['huge decimal ID', 'start', () => ['99999999999999999999'], /ID/],
    ['ID with an exponent', 'start', () => ['1e3'], /ID/],
    ['hex ID', 'start', () => ['0x65'], /ID/],
    ['signed ID', 'start', () => ['+101'], /ID/],
    ['negative ID', 'start', () => [-101], /ID/],
    ['ID with spaces', 'start', () => [' 101'], /ID/],
    ['ID with a trailing space', 'start', () => ['101 '], /ID/],
    ['ID with a leading zero', 'start', () => ['0101'], /ID/],
    ['decimal-point ID string', 'start', () => ['101.0'], /ID/],
    ['boolean ID', 'start', () => [true], /ID/],
    ['null ID', 'start', () => [null], /ID/],
    ['array ID', 'start', () => [[101]], /ID/],
    ['object ID', 'start', () => [{ id: 101 }], /ID/],
    ['shell in ID', 'stop', () => ['101;reboot'], /ID/],
    ['missing ID', 'status', () => [], /expected 1 argument/],
    ['extra argument', 'status', () => [101, 102], /expected 1 argument/],
    ['extra argument to ping', 'ping', () => ['x'], /expected 0 arguments/],
    ['two IDs to ubc', 'ubc', () => [101, 102], /expected 0 to 1/],
    ['unknown RESOURCE', 'set', () => [101, 'cpuunits', '100'], /RESOURCE must be one of/],
    ['dummy RESOURCE', 'set', () => [101, 'dummy', '0'], /RESOURCE/],
    ['prototype RESOURCE', 'set', () => [101, '__proto__', '1'], /RESOURCE/],
    ['shell in BARRIER', 'set', () => [101, 'numproc', '10;reboot'], /BARRIER/],
    ['negative BARRIER', 'set', () => [101, 'numproc', '-1'], /BARRIER/],
    ['BARRIER over LONG_MAX', 'set', () => [101, 'kmemsize', '9223372036854775808'], /larger/],
    ['G-suffixed BARRIER too big', 'set', () => [101, 'kmemsize', '9007199254740993G'], /large/],
    ['BARRIER above LIMIT', 'set', () => [101, 'privvmpages', '2G:1G'], /above LIMIT.*swap/],
    ['LIMIT over LONG_MAX', 'set', () => [101, 'kmemsize', '1:99999999999999999999'], /LIMIT/],
    ['suffix on an items resource', 'set', () => [101, 'numproc', '1K'], /counts items/],
    ['three parts', 'set', () => [101, 'numproc', '1:2:3'], /at most one/],
    ['numeric BARRIER', 'set', () => [101, 'numproc', 100], /must be a string/],
    ['empty LIMIT', 'set', () => [101, 'numproc', '100:'], /LIMIT/],
    ['bad suffix', 'set', () => [101, 'kmemsize', '10Q'], /BARRIER/],
  ];

  for (const [title, command, args, message] of cases) {
    it(`refuses ${title} (${command})`, async () => {
      const answer = await raw.request(command, args());
      assert.equal(answer.code, AgentCode.INVALID_ARGUMENTS, JSON.stringify(answer));
      assert.match(String(answer.returned[0]), message);
      assert.match(String(answer.returned.at(-1)), /^usage: /);
      await assertStillServes();
    });
  }

  it('ran nothing for any refused request', async () => {
    const listed = (await raw.request('list')).returned as VeStatus[];
    assert.deepEqual(listed.filter((ve) => ve.id === 401 || ve.id === 101), []);
  });

  it('accepts decimal-string IDs, suffixes on byte resources and unlimited', async () => {
    assert.equal((await raw.request('create', ['402', template, 'svc-1'])).code, 0);
    assert.equal((await raw.request('set', [402, 'kmemsize', '14M:16M'])).code, 0);
    assert.equal((await raw.request('set', [402, 'privvmpages', 'unlimited'])).code, 0);
    assert.equal((await raw.request('set', [402, 'physpages', '0:9223372036854775807'])).code, 0);
    assert.equal((await raw.request('remove', ['402'])).code, 0);
  });
});
