/**
 * `network.pool` in the agent config: a CIDR block or an IPv4 range, checked when the config is
 * read, with errors that name the key; a range reaches the provisioner's address ledger intact.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AgentConfigError, buildConfig, loadAgentConfig } from '../agent/config.ts';
import { AddressPool } from '../agent/provision/addresses.ts';
import { provisionConfigFrom } from '../agent/provision/commands.ts';

let dir: string;

const base = { name: 'node1', pki: '/etc/crewvz/pki', driver: 'vzctl' };

function withPool(pool: unknown) {
  return buildConfig({ ...base, network: { pool, domain: 'vz.lab' } }, '/etc/crewvz');
}

function refused(pool: unknown, pattern: RegExp): void {
  assert.throws(
    () => withPool(pool),
    (error: unknown) => {
      assert.ok(error instanceof AgentConfigError, String(error));
      assert.match(error.message, pattern);
      return true;
    },
  );
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-pool-config-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('network.pool in the agent config', () => {
  it('takes a CIDR block as before', () => {
    assert.equal(withPool('10.0.5.0/24').config.network.pool, '10.0.5.0/24');
  });

  it('takes a range and hands it to the address ledger, both ends included', async () => {
    const { config } = withPool('10.0.5.10-10.0.5.11');
    assert.equal(config.network.pool, '10.0.5.10-10.0.5.11');

    const settings = provisionConfigFrom(config);
    assert.equal(settings?.network.pool, '10.0.5.10-10.0.5.11');
    const taken = ['10.0.5.10'];
    const pool = new AddressPool(settings.network.pool, [async () => taken]);
    assert.equal(await pool.allocate(async (address) => address), '10.0.5.11');
    taken.push('10.0.5.11');
    await assert.rejects(pool.allocate(async (address) => address), /no free address left/);
  });

  it('takes a range from an env: reference', () => {
    const { config } = buildConfig(
      { ...base, network: { pool: 'env:POOL', domain: 'vz.lab' } },
      '/etc/crewvz',
      { POOL: '192.168.7.2-192.168.7.90' },
    );
    assert.equal(config.network.pool, '192.168.7.2-192.168.7.90');
  });

  it('names the key and both spellings for a malformed range', () => {
    const both = /^network\.pool: '.*' is neither a CIDR block like 10\.0\.5\.0\/24 nor an IPv4/;
    refused('10.0.5.10-10.0.5', both);
    refused('10.0.5.1-fe80::1', both);
    refused('10.0.5.1-10.0.5.2-10.0.5.3', both);
    refused('-10.0.5.2', both);
  });

  it('refuses a range that ends before it starts', () => {
    refused('10.0.5.200-10.0.5.10', /^network\.pool: the range '10\.0\.5\.200-10\.0\.5\.10' ends/);
  });

  it('still refuses a bad CIDR block and a non-string', () => {
    refused('10.0.5.0/40', /^network\.pool: '10\.0\.5\.0\/40' is not an address range/);
    refused(42, /^network\.pool: must be a non-empty string/);
  });

  it('names the file and the key when the YAML file has a bad range', async () => {
    const file = path.join(dir, 'agent.yaml');
    await writeFile(
      file,
      'name: node1\npki: pki\nnetwork:\n  pool: 10.0.5.9-10.0.5.1\n  domain: vz.lab\n',
    );
    await assert.rejects(loadAgentConfig(file, {}), (error: unknown) => {
      assert.ok(error instanceof AgentConfigError);
      assert.equal(error.message.startsWith(`${file}: network.pool: the range`), true);
      return true;
    });
  });
});
