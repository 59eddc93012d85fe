import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AgentConfigError, buildConfig, checkPkiFiles, loadAgentConfig } from '../agent/config.ts';
import { makeTestPki } from './helpers/pki.ts';

const minimal = { name: 'node1', pki: 'pki', driver: 'sim', stateDir: 'state' };

function refused(raw: Record<string, unknown>, message: RegExp, env = {}): void {
  assert.throws(() => buildConfig(raw, '/etc/crewvz', env), (error: unknown) => {
    assert.ok(error instanceof AgentConfigError);
    assert.match(error.message, message);
    return true;
  });
}

describe('agent config', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'crewvz-agent-config-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('fills defaults and resolves paths against the config file', () => {
    const { config, warnings } = buildConfig(minimal, '/etc/crewvz');
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 7070 });
    assert.equal(config.pki.cert, '/etc/crewvz/pki/node1.crt');
    assert.equal(config.stateDir, '/etc/crewvz/state');
    assert.equal(config.templates, '/etc/crewvz/state/templates');
    assert.equal(config.beancounters, null);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(warnings, []);

    const real = buildConfig({ name: 'n2', pki: '/p' }, '/x').config;
    assert.equal(real.driver, 'vzctl');
    assert.equal(real.beancounters, '/proc/user_beancounters');
    assert.equal(real.templates, '/vz/template/cache');
  });

  it('takes env:NAME values from the environment', () => {
    const env = { AGENT_PORT_SPEC: '[::1]:7443', DOMAIN: 'lab.example' };
    const { config } = buildConfig(
      { ...minimal, listen: 'env:AGENT_PORT_SPEC', network: { domain: 'env:DOMAIN' } },
      '/etc/crewvz',
      env,
    );
    assert.deepEqual(config.listen, { host: '::1', port: 7443 });
    assert.equal(config.network.domain, 'lab.example');
    refused({ ...minimal, vzctl: 'env:NOPE' }, /^vzctl: environment variable NOPE is not set/);
  });

  it('names the key of every bad value', () => {
    refused({ ...minimal, name: 'Node_1' }, /^name: /);
    refused({ ...minimal, name: 'ca' }, /^name: 'ca' is taken by the PKI's own ca\.crt/);
    refused({ ...minimal, name: 'bot' }, /^name: 'bot' is taken by the PKI's own bot\.crt/);
    refused({ pki: 'p' }, /^name: required/);
    refused({ ...minimal, stateDir: undefined }, /^stateDir: required when driver is sim/);
    refused({ ...minimal, listen: '1.2.3.4:99999' }, /^listen: /);
    refused({ ...minimal, logLevel: 'loud' }, /^logLevel: must be one of/);
    refused({ ...minimal, network: { pool: '10.0.0.0/33' } }, /^network\.pool: /);
    refused({ ...minimal, network: { nameservers: ['8.8.8.8', 'dns'] } }, /nameservers\[1\]/);
    refused({ ...minimal, network: { domain: 'bad domain' } }, /^network\.domain: /);
    refused({ ...minimal, limits: { numproc: '1K' } }, /^limits\.numproc: .*plain digits/);
    refused({ ...minimal, limits: { cpuunits: '1' } }, /^limits\.cpuunits: RESOURCE/);
    refused({ ...minimal, network: ['a'] }, /^network: must be a mapping/);
  });

  it('warns about unknown keys, top level and nested', () => {
    const { warnings } = buildConfig(
      { ...minimal, colour: 'blue', network: { gateway: '10.0.0.1' } },
      '/etc/crewvz',
    );
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /unknown key colour/);
    assert.match(warnings[1] ?? '', /unknown key network\.gateway/);
  });

  it('reads YAML files and names the file in errors', async () => {
    const file = path.join(root, 'agent.yaml');
    await writeFile(file, 'name: node1\npki: pki\nlimits:\n  numproc: 240\n');
    const { config } = await loadAgentConfig(file);
    assert.deepEqual(config.limits, { numproc: '240' });

    await writeFile(file, 'name: [unclosed\n');
    await assert.rejects(loadAgentConfig(file), /agent\.yaml is not valid YAML/);
    await assert.rejects(loadAgentConfig(path.join(root, 'none.yaml')), /cannot read the config/);
  });

  it('names the PKI file it cannot read', async () => {
    const pki = await makeTestPki();
    const files = (name: string) => buildConfig({ name, pki: pki.dir }, '/').config.pki;
    await checkPkiFiles(files('node1'));
    await assert.rejects(checkPkiFiles(files('node3')), /node3\.crt/);
  });
});
