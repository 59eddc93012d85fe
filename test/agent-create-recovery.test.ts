/**
 * A create the agent was killed in the middle of is undone at its next start: until then the VE
 * answers VE_BUSY to everything (status too, so the bot does not take a half-made VE for a
 * finished one), after it the VE and every host piece are gone. A real agent over mutual TLS,
 * the sim driver, a scratch root with the real useradd. The kill is staged: the journal's mark
 * is put back after a finished create, which is exactly what a kill before its end leaves.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';

import type { AgentConfig } from '../agent/config.ts';
import { DriverError, type Driver } from '../agent/driver.ts';
import { startAgent, type RunningAgent } from '../agent/main.ts';
import { AgentCode } from '../agent/protocol.ts';
import { createSimDriver } from '../agent/sim.ts';
import { AgentCallError, AgentClient } from '../src/agent-client.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';
import {
  makeScratchRoot,
  removeScratchRoot,
  scratchAgentConfig,
  snapshotFiles,
} from './helpers/scratch-root.ts';

const quiet = pino({ level: 'silent' });
const TEMPLATE = 'debian-12-x86_64-minimal';

let root: string;
let pki: TestPki;
let config: AgentConfig;
let agent: RunningAgent | null = null;
let client: AgentClient | null = null;

async function start(
  options: { recoveryRetryMs?: number; driver?: Driver } = {},
): Promise<AgentClient> {
  agent = await startAgent(config, { logger: quiet, ...options });
  client = new AgentClient({
    name: 'node1',
    address: `127.0.0.1:${agent.address.port}`,
    tls: { ca: pki.ca, ...pki.bot },
    logger: quiet,
  });
  return client;
}

async function stop(): Promise<void> {
  await client?.close();
  await agent?.stop();
  client = null;
  agent = null;
}

const journal = (): string => path.join(root, 'var/lib/crewvz-agent/creating');

/** Every file under root but the agent's own state (the sim's VEs, records, the journal). */
async function hostFiles(): Promise<Map<string, string>> {
  const files = await snapshotFiles(root);
  for (const name of [...files.keys()].filter((file) => file.startsWith('var/lib/crewvz-agent'))) {
    files.delete(name);
  }
  return files;
}

before(async () => {
  pki = await makeTestPki();
  root = await makeScratchRoot();
  config = scratchAgentConfig(root, pki.dir);
});

after(async () => {
  await stop();
  await removeScratchRoot(root);
});

describe('a create cut short by a kill', () => {
  it('leaves no mark when it answers, made or refused', async () => {
    const agentClient = await start();
    await agentClient.call('create', [101, TEMPLATE, 'alice']);
    await assert.rejects(agentClient.call('create', [101, TEMPLATE, 'alice']));
    assert.deepEqual(await readdir(journal()), []);
    await agentClient.call('remove', [101]);
    await stop();
  });

  it('is undone at the next start, and its VE is busy to every command until then',
    async () => {
      const clean = await hostFiles();
      const first = await start();
      await first.call('create', [102, TEMPLATE, 'bob']);
      await stop();
      // What a kill between the first step and the answer leaves: the mark, and what was made.
      await mkdir(journal(), { recursive: true });
      await writeFile(path.join(journal(), '102'), 'interrupted\n');

      const second = await start();
      // The undo may be done by the time a request arrives; if not, the VE is busy.
      try {
        const [status] = (await second.call('status', [102])) as [{ state: string }];
        assert.equal(status.state, 'absent');
      } catch (error) {
        assert.ok(error instanceof AgentCallError, String(error));
        assert.equal(error.code, AgentCode.VE_BUSY);
        assert.match(error.lines[0] ?? '', /undoing a create the agent was stopped in the middle/);
      }
      await agent?.recovered;

      const [status] = (await second.call('status', [102])) as [{ state: string }];
      assert.equal(status.state, 'absent');
      assert.deepEqual(await readdir(journal()), []);
      assert.deepEqual(await hostFiles(), clean,
        'no host piece of the cut create is left');

      // The bot's reconcile then creates it again, whole.
      await second.call('create', [102, TEMPLATE, 'bob']);
      await second.call('remove', [102]);
      await stop();
    });

  it('tries the undo again while the VE is locked, and keeps the VE busy meanwhile', async () => {
    const first = await start();
    await first.call('create', [103, TEMPLATE, 'carol']);
    await stop();
    await writeFile(path.join(journal(), '103'), 'interrupted\n');

    // The killed agent's vzctl still holds the VE's lock for the first two tries.
    const sim = await createSimDriver({
      stateDir: path.join(root, 'var/lib/crewvz-agent'),
      templatesDir: config.templates,
      logger: quiet,
    });
    let refusals = 2;
    const locked: Driver = Object.assign(Object.create(sim) as Driver, {
      async remove(id: number): Promise<void> {
        if (refusals > 0) {
          refusals -= 1;
          throw new DriverError(9, ['Container already locked']);
        }
        return sim.remove(id);
      },
    });
    const second = await start({ driver: locked, recoveryRetryMs: 200 });
    await assert.rejects(second.call('status', [103]), { code: AgentCode.VE_BUSY });

    await agent?.recovered;
    assert.equal(refusals, 0);
    const [status] = (await second.call('status', [103])) as [{ state: string }];
    assert.equal(status.state, 'absent');
    assert.deepEqual(await readdir(journal()), []);
  });
});
