/**
 * A scratch root for the real useradd/userdel/ssh-keygen: the five files `useradd --prefix`
 * reads and writes, with the modes a Debian node has, plus helpers to compare the tree before
 * and after an operation.
 */
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { buildConfig, type AgentConfig } from '../../agent/config.ts';

const LOGIN_DEFS = [
  'UID_MIN 1000',
  'UID_MAX 60000',
  'GID_MIN 1000',
  'GID_MAX 60000',
  'USERGROUPS_ENAB yes',
  'ENCRYPT_METHOD SHA512',
  '',
].join('\n');

export async function makeScratchRoot(prefix = 'crewvz-root-'): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  const etc = path.join(root, 'etc');

  await mkdir(etc, { recursive: true });
  await writeFile(path.join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n', { mode: 0o644 });
  await writeFile(path.join(etc, 'group'), 'root:x:0:\n', { mode: 0o644 });
  await writeFile(path.join(etc, 'shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  await writeFile(path.join(etc, 'gshadow'), 'root:*::\n', { mode: 0o640 });
  await writeFile(path.join(etc, 'login.defs'), LOGIN_DEFS, { mode: 0o644 });
  await chmod(path.join(etc, 'shadow'), 0o640);
  await chmod(path.join(etc, 'gshadow'), 0o640);
  return root;
}

export async function removeScratchRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Backup copies useradd/userdel leave beside the files they edit (passwd-, shadow-, ...). */
const BACKUP = /^etc\/[a-z]+-$/;

/**
 * Every regular file under root (backups left out) with its content and mode: what "leaves
 * nothing behind" compares. Empty directories do not count; files do.
 */
export async function snapshotFiles(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();

  async function walk(directory: string): Promise<void> {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      const relative = path.relative(root, full);

      if (entry.isDirectory()) {
        await walk(full);
      } else if (!BACKUP.test(relative)) {
        const mode = ((await stat(full)).mode & 0o7777).toString(8);
        files.set(relative, `${mode}:${await readFile(full, 'utf8')}`);
      }
    }
  }

  await walk(root);
  return files;
}

/**
 * An agent config that provisions under `root` with the sim driver, on a loopback port the
 * system picks: the pool, nameserver and domain the provisioning tests expect. `extra` adds or
 * replaces keys (templateSource, say).
 */
export function scratchAgentConfig(
  root: string,
  pkiDir: string,
  extra: Record<string, unknown> = {},
): AgentConfig {
  const { config } = buildConfig(
    {
      name: 'node1',
      listen: '127.0.0.1:0',
      pki: pkiDir,
      driver: 'sim',
      stateDir: path.join(root, 'var/lib/crewvz-agent'),
      root,
      network: { pool: '10.0.5.0/28', nameservers: ['10.0.5.1'], domain: 'vz.example.edu' },
      ...extra,
    },
    root,
  );
  return config;
}
