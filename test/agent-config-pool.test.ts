/**
 * `network.pool` in the agent config: a CIDR block or an IPv4 range, checked when the config is
 * read, with errors that name the key; a range reaches the provisioner's address ledger intact.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';

import { AgentConfigError, buildConfig, loadAgentConfig } from '../agent/config.ts';
import { AddressPool, infrastructureAddresses } from '../agent/provision/addresses.ts';
import { provisionConfigFrom } from '../agent/provision/commands.ts';
import { Provisioner } from '../agent/provision/provisioner.ts';
import { FakeProvisionDriver } from './helpers/provision-driver.ts';

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

describe('addresses a VE never gets', () => {
  it('skips network and broadcast address, nameservers and host interfaces', async () => {
    const driver = new FakeProvisionDriver();
    const provisioner = new Provisioner({
      config: {
        root: dir,
        stateDir: path.join(dir, 'state'),
        network: {
          pool: '10.0.5.0/29',
          nameservers: ['10.0.5.1', '192.0.2.53'],
          searchdomain: null,
          domain: 'vz.lab',
        },
        paths: { keysDir: 'k', shellsDir: 's', mapFile: 'm', ssh: '/usr/bin/ssh' },
        limits: {},
      },
      driver,
      logger: pino({ level: 'silent' }),
      hostAddresses: () => ['10.0.5.3', '127.0.0.1'],
    });
    const handedOut: string[] = [];
    const claim = async (address: string) => {
      handedOut.push(address);
      // What makes an address taken for the next allocation: a VE that has it.
      const id = 100 + handedOut.length;
      const spec = { id, template: 't', hostname: `h${id}`, address, nameservers: [] };
      driver.ves.set(id, {
        spec: { ...spec, searchdomain: null, limits: {} },
        running: false,
        users: new Map(),
      });
    };

    for (let count = 0; count < 4; count++) {
      await provisioner.pool.allocate(claim);
    }
    assert.deepEqual(handedOut, ['10.0.5.2', '10.0.5.4', '10.0.5.5', '10.0.5.6']);
    await assert.rejects(provisioner.pool.allocate(claim), /no free address left/);
  });

  it("reads the host's IPv4 interface addresses, loopback included", () => {
    const interfaces = {
      eth0: [
        { address: '10.0.5.9', family: 'IPv4' },
        { address: 'fe80::1', family: 'IPv6' },
      ],
    } as unknown as NodeJS.Dict<os.NetworkInterfaceInfo[]>;
    assert.deepEqual(infrastructureAddresses(['10.0.5.1'], interfaces), ['10.0.5.1', '10.0.5.9']);
    assert.ok(infrastructureAddresses([]).includes('127.0.0.1'));
  });
});
