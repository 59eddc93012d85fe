/**
 * The agent checks its own certificate before it listens: the configured name in its
 * subjectAltName, its key, its CA and serverAuth. A wrong one stops it with the file named.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AgentConfigError, buildConfig } from '../agent/config.ts';
import { silentAgentLogger } from '../agent/log.ts';
import { startAgent } from '../agent/main.ts';
import { run } from '../agent/run.ts';
import { makeCertificate } from '../src/pki.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

const BIN = path.join(import.meta.dirname, '..', 'src', 'bin.mjs');
const RAW = { name: 'node1', listen: '127.0.0.1:0', pki: 'pki', driver: 'sim', stateDir: 'state' };

let pki: TestPki;
let root: string;
let cases = 0;

before(async () => {
  pki = await makeTestPki();
  root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-agent-pki-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of the test PKI with node1.crt/node1.key replaced, and an agent config using it. */
async function nodeWith(cert: string, key: string): Promise<{ dir: string; configFile: string }> {
  cases += 1;
  const dir = path.join(root, `case${cases}`);
  await cp(pki.dir, path.join(dir, 'pki'), { recursive: true });
  await writeFile(path.join(dir, 'pki', 'node1.crt'), cert);
  await writeFile(path.join(dir, 'pki', 'node1.key'), key, { mode: 0o600 });
  const configFile = path.join(dir, 'agent.yaml');
  const yaml = 'name: node1\nlisten: 127.0.0.1:0\npki: pki\ndriver: sim\nstateDir: state\n';
  await writeFile(configFile, yaml);
  return { dir, configFile };
}

async function refusedToStart(cert: string, key: string, reason: RegExp): Promise<void> {
  const { dir } = await nodeWith(cert, key);
  const { config } = buildConfig(RAW, dir);
  // An agent that starts after all is stopped, so the failure does not keep the test open.
  const error = await startAgent(config, { logger: silentAgentLogger() }).then(
    async (agent) => {
      await agent.stop();
      return undefined;
    },
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof AgentConfigError, `started, or failed otherwise: ${String(error)}`);
  assert.match(error.message, reason);
  assert.match(error.message, /crewvz pki issue-agent node1 --dir DIR --force/);
}

describe('agent start-up: its own certificate', () => {
  it("exits 1 naming node1.crt when it holds another node's certificate", async () => {
    const { configFile } = await nodeWith(pki.node2.cert, pki.node2.key);
    const result = await run(process.execPath, [BIN, 'agent', '--config', configFile], {
      timeoutMs: 15_000,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /node1\.crt is not a certificate for node node1/);
    assert.match(result.stderr, /DNS:node2/);
    assert.doesNotMatch(result.stdout, /listening/);
  });

  it('refuses a key that belongs to another certificate', async () => {
    const reason = /node1\.key is not the key of .*node1\.crt/;
    await refusedToStart(pki.node1.cert, pki.node2.key, reason);
  });

  it('refuses a certificate another CA signed', async () => {
    const otherCa = makeCertificate({ commonName: 'other CA', usage: 'ca' });
    const foreign = makeCertificate({
      commonName: 'node1',
      usage: 'server',
      issuer: otherCa,
      dns: ['node1'],
    });
    await refusedToStart(foreign.cert, foreign.key, /not signed by the CA in .*ca\.crt/);
  });

  it('refuses a certificate without serverAuth', async () => {
    const client = makeCertificate({
      commonName: 'node1',
      usage: 'client',
      issuer: { cert: pki.ca, key: pki.caKey },
      dns: ['node1'],
    });
    await refusedToStart(client.cert, client.key, /not a server certificate/);
  });

  it('refuses a file that is no certificate', async () => {
    await refusedToStart('not a certificate\n', pki.node1.key, /node1\.crt is not a PEM/);
  });

  it('starts with the right certificate and key', async () => {
    const { dir } = await nodeWith(pki.node1.cert, pki.node1.key);
    const { config } = buildConfig(RAW, dir);
    const agent = await startAgent(config, { logger: silentAgentLogger() });
    await agent.stop();
  });
});
