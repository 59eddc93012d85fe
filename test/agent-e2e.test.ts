/**
 * The agent as it runs on a node: `crewvz agent --config FILE` in a child process with the sim
 * driver, driven through the bot's AgentClient over real mutual TLS.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { PingResult, UbcRow, VeStatus } from '../agent/protocol.ts';
import { AgentCallError, AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

const CLI = path.resolve(import.meta.dirname, '../src/cli.ts');

interface Agent {
  child: ChildProcess;
  port: number;
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnAgent(configFile: string, env: NodeJS.ProcessEnv = {}): Agent {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'agent', '--config', configFile], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port: 0, logs, stderr: () => stderr, exited };
}

async function listening(agent: Agent): Promise<number> {
  for (let waited = 0; waited < 15_000; waited += 50) {
    const line = agent.logs.find((entry) => entry.msg === 'agent listening');
    if (line) {
      return line.port as number;
    }
    if (agent.child.exitCode !== null) {
      throw new Error(`agent exited: ${agent.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('agent did not start listening');
}

describe('crewvz agent (child process, sim driver)', () => {
  let pki: TestPki;
  let root: string;
  let agent: Agent;
  let client: AgentClient;

  before(async () => {
    pki = await makeTestPki();
    root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-e2e-'));
    const config = [
      'name: node1',
      'listen: 127.0.0.1:0',
      `pki: ${pki.dir}`,
      'driver: sim',
      'stateDir: env:CREWVZ_E2E_STATE',
      'network:',
      '  domain: lab.example',
      'limits:',
      '  numproc: "240:240"',
      'colour: blue',
    ].join('\n');
    await writeFile(path.join(root, 'agent.yaml'), `${config}\n`);
    agent = spawnAgent(path.join(root, 'agent.yaml'), {
      CREWVZ_E2E_STATE: path.join(root, 'state'),
    });
    agent.port = await listening(agent);
    client = new AgentClient({
      name: 'node1',
      address: `127.0.0.1:${agent.port}`,
      tls: { ca: pki.ca, cert: pki.bot.cert, key: pki.bot.key },
      logger: silentLogger(),
    });
  });

  after(async () => {
    await client?.close();
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGKILL');
    }
    await rm(root, { recursive: true, force: true });
  });

  it('warns about unknown config keys', () => {
    assert.ok(agent.logs.some((entry) => /unknown key colour/.test(String(entry.msg))));
  });

  it('runs the whole command set', async () => {
    const [ping] = (await client.call('ping')) as [PingResult];
    assert.deepEqual([ping.name, ping.driver, ping.protocol], ['node1', 'sim', 1]);
    const templates = (await client.call('templates')) as string[];
    assert.ok(templates.length >= 1);

    const [created] = (await client.call('create', [150, templates[0], 'alice'])) as [VeStatus];
    assert.equal(created.state, 'running');
    assert.equal(created.hostname, 'alice.lab.example');
    assert.ok(created.startedAt);

    const [stopped] = (await client.call('stop', ['150'])) as [VeStatus];
    assert.equal(stopped.state, 'stopped');
    assert.equal(((await client.call('start', [150])) as [VeStatus])[0].state, 'running');
    assert.equal(((await client.call('restart', [150])) as [VeStatus])[0].state, 'running');
    assert.deepEqual(await client.call('set', [150, 'kmemsize', '20M:24M']), []);

    const rows = (await client.call('ubc', [150])) as UbcRow[];
    const numproc = rows.find((row) => row.resource === 'numproc');
    assert.deepEqual([numproc?.barrier, numproc?.limit], [240, 240], 'config limits applied');
    assert.ok((await client.call('ubc')).length >= rows.length);
    assert.deepEqual(((await client.call('list')) as VeStatus[]).map((ve) => ve.id), [150]);

    assert.deepEqual(await client.call('remove', [150]), []);
    const [gone] = (await client.call('status', [150])) as [VeStatus];
    assert.equal(gone.state, 'absent');
  });

  it('answers bad input with its code and keeps serving', async () => {
    const codes: number[] = [];
    for (const [command, args] of [
      ['start', [150]],
      ['create', [151, '../etc', 'bob']],
      ['reboot-host', []],
    ] as const) {
      await client.call(command, [...args]).catch((error: unknown) => {
        assert.ok(error instanceof AgentCallError);
        codes.push(error.code);
      });
    }
    assert.deepEqual(codes, [14, 1003, 1002]);
    assert.equal(((await client.call('ping')) as [PingResult])[0].name, 'node1');
  });

  it('logs one line per request without argument values', () => {
    const requests = agent.logs.filter((entry) => entry.msg === 'request');
    const create = requests.find((entry) => entry.command === 'create' && entry.code === 0);
    assert.ok(create);
    assert.equal(create.ve, 150);
    assert.equal(typeof create.durationMs, 'number');
    assert.ok('id' in create);
    assert.doesNotMatch(JSON.stringify(agent.logs), /alice|BEGIN|PRIVATE/);
  });

  it('stops cleanly on SIGTERM', async () => {
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
  });
});

describe('crewvz agent: bad configs', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-e2e-bad-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function refused(config: string): Promise<string> {
    const file = path.join(root, `c${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, config);
    const agent = spawnAgent(file);
    assert.equal(await agent.exited, 1);
    return agent.stderr();
  }

  it('names the bad key, the unset variable and the unreadable pki file', async () => {
    const pki = await makeTestPki();
    const base = `name: node1\npki: ${pki.dir}\ndriver: sim\nstateDir: ${root}/s\n`;
    const [listen, env, missing, driver] = await Promise.all([
      refused(`${base}listen: nowhere\n`),
      refused(`${base}templateSource: env:CREWVZ_NOT_SET_ANYWHERE\n`),
      refused(base.replace('node1', 'node9')),
      refused(base.replace('driver: sim', 'driver: docker')),
    ]);
    assert.match(listen, /listen: 'nowhere' must be HOST:PORT/);
    assert.match(env, /templateSource: environment variable CREWVZ_NOT_SET_ANYWHERE is not set/);
    assert.match(missing, /node9\.crt/);
    assert.match(driver, /driver: must be one of vzctl, sim/);
  });
});
