/**
 * A scratch node for provisioning over the real vzctl driver and the fake vzctl/vzlist: the
 * host's passwd files under a scratch root, the fake's state in ROOT/vz, one cached template,
 * and a Provisioner whose config makes every vzctl step run (create, set, mount, umount, start).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

import type { AccountTools } from '../../agent/provision/host-account.ts';
import { Provisioner } from '../../agent/provision/provisioner.ts';
import { SAFE_PATH } from '../../agent/run.ts';
import { createVzctlDriver, type ProvisioningDriver } from '../../agent/vzctl.ts';
import { makeScratchRoot, removeScratchRoot } from './scratch-root.ts';

const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const FAKE_VZ = path.join(HELPERS, '../fixtures/fake-vz');
export const TEMPLATE = 'debian-12';
export const MAP = 'etc/apache2/crewvz-vhosts.map';
export const KEYS_DIR = 'var/lib/crewvz/keys';
export const SHELLS_DIR = 'usr/local/lib/crewvz/shells';
export const STATE_DIR = 'var/lib/crewvz-agent';

export interface FakeVzNode {
  root: string;
  /** The fake's FAKE_VZ_DIR: conf/, private/, running/, calls.log. */
  fakeDir: string;
  /** The environment every fake vzctl/vzlist call gets. */
  env: Record<string, string>;
  driver: ProvisioningDriver;
  provisioner: Provisioner;
  close(): Promise<void>;
}

export interface FakeVzNodeOptions {
  pool?: string;
  /** Added to the fake's environment, e.g. FAKE_VZ_FAIL=start:47. */
  env?: Record<string, string>;
  tools?: Partial<AccountTools>;
}

export async function makeFakeVzNode(options: FakeVzNodeOptions = {}): Promise<FakeVzNode> {
  const root = await makeScratchRoot();
  const fakeDir = path.join(root, 'vz');
  await mkdir(path.join(fakeDir, 'template/cache'), { recursive: true });
  await writeFile(path.join(fakeDir, `template/cache/${TEMPLATE}.tar.gz`), '');

  const quiet = pino({ level: 'silent' });
  const env = {
    FAKE_VZ_DIR: fakeDir,
    PATH: `${path.dirname(process.execPath)}:${SAFE_PATH}`,
    ...options.env,
  };
  const driver = createVzctlDriver({
    vzctl: path.join(FAKE_VZ, 'vzctl'),
    vzlist: path.join(FAKE_VZ, 'vzlist'),
    beancounters: path.join(fakeDir, 'user_beancounters'),
    templatesDir: path.join(fakeDir, 'template/cache'),
    logger: quiet,
    env,
  });

  const provisioner = new Provisioner({
    config: {
      root,
      stateDir: path.join(root, STATE_DIR),
      network: {
        pool: options.pool ?? '10.0.5.1-10.0.5.9',
        // Outside the pool, so only VEs and records decide which pool addresses are taken.
        nameservers: ['10.0.0.53'],
        searchdomain: 'lab.example',
        domain: 'vz.lab.example',
      },
      paths: { keysDir: KEYS_DIR, shellsDir: SHELLS_DIR, mapFile: MAP, ssh: '/usr/bin/ssh' },
      limits: { numproc: '240:240' },
    },
    driver,
    logger: quiet,
    hostAddresses: () => [],
    ...(options.tools ? { tools: options.tools } : {}),
  });

  return {
    root,
    fakeDir,
    env,
    driver,
    provisioner,
    async close() {
      await driver.close();
      await removeScratchRoot(root);
    },
  };
}

/**
 * A program at BIN/NAME that runs the fake NAME with FAKE_VZ_DIR set, whatever environment the
 * agent gives it (its runner passes programs a clean one), and with FAKE_VZ_FAIL read from
 * BIN/fail when that file exists, so a test can switch failures on and off between calls.
 */
export async function writeFakeVzWrapper(
  bin: string,
  fakeDir: string,
  name: 'vzctl' | 'vzlist',
): Promise<string> {
  const file = path.join(bin, name);
  const failFile = path.join(bin, 'fail');
  const script = [
    '#!/bin/sh',
    `FAKE_VZ_DIR='${fakeDir}'`,
    'export FAKE_VZ_DIR',
    `if [ -f '${failFile}' ]; then FAKE_VZ_FAIL=$(cat '${failFile}'); export FAKE_VZ_FAIL; fi`,
    `exec '${process.execPath}' '${path.join(FAKE_VZ, name)}' "$@"`,
    '',
  ].join('\n');
  await mkdir(bin, { recursive: true });
  await writeFile(file, script);
  await chmod(file, 0o755);
  return file;
}
