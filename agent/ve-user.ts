/**
 * The vzctl driver's `addUser`: the VE's owner inside a created, not yet started VE. The VE is
 * mounted (`vzctl mount`), the user made with the real `useradd --root VE_ROOT` (it edits the
 * VE's own passwd files, not the host's), the public key written to ~USER/.ssh/authorized_keys
 * owned by the user's uid/gid as the VE's /etc/passwd has them, and the VE unmounted again,
 * also when a step failed, so the VE can be started or destroyed afterwards.
 */
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

import { DriverError } from './driver.ts';
import { AgentCode } from './protocol.ts';
import { QUERY_TIMEOUT_MS, outputLines, run } from './run.ts';

/** The GECOS field of the user crewvz makes inside a VE, as for the host account. */
export const VE_USER_COMMENT = 'crewvz';

/** useradd: the username is already in use (in the VE's template). */
const USERADD_EXISTS = 9;

export interface VeUserTools {
  /** Runs vzctl; a failure is a DriverError with vzctl's status. */
  vzctl(args: string[]): Promise<void>;
  /** The VE's root directory as the host sees it (vzlist's `root`). */
  veRoot(id: number): Promise<string>;
  useradd: string;
  /** Added to useradd's clean environment. */
  env?: Readonly<Record<string, string>>;
  logger: Logger;
}

interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
}

function failed(lines: string[]): DriverError {
  return new DriverError(AgentCode.STEP_FAILED, lines);
}

/** The user's line in ROOT/etc/passwd, or null. */
async function passwdEntry(root: string, username: string): Promise<PasswdEntry | null> {
  const text = await readFile(path.join(root, 'etc', 'passwd'), 'utf8');

  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === username && fields.length >= 7) {
      const uid = Number(fields[2]);
      const gid = Number(fields[3]);
      const home = fields[5] ?? '';
      if (!Number.isInteger(uid) || !Number.isInteger(gid) || !path.isAbsolute(home)) {
        throw failed([`the VE's /etc/passwd line for ${username} is malformed`]);
      }
      return { uid, gid, home };
    }
  }
  return null;
}

function inside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function useradd(tools: VeUserTools, root: string, id: number, username: string) {
  // Students expect bash; a template without it (alpine) gets the POSIX shell.
  const shell = (await exists(path.join(root, 'bin', 'bash'))) ? '/bin/bash' : '/bin/sh';
  const args = ['--root', root, '-m', '-s', shell, '-c', VE_USER_COMMENT, username];
  const result = await run(tools.useradd, args, {
    timeoutMs: QUERY_TIMEOUT_MS,
    ...(tools.env ? { env: tools.env } : {}),
  });

  if (result.code === USERADD_EXISTS) {
    throw failed([`user ${username} already exists inside VE ${id}; pick another username`]);
  }
  if (result.code !== 0) {
    throw failed([`useradd in VE ${id} exited ${result.code}`, ...outputLines(result.stderr)]);
  }
}

/**
 * Writes the key with the user's ownership. The home is resolved and must stay inside the VE's
 * root: a template symlink such as /home -> /srv/home would otherwise point at the host's.
 */
async function installKey(root: string, id: number, entry: PasswdEntry, publicKey: string) {
  const realRoot = await realpath(root);
  const home = await realpath(path.join(realRoot, entry.home));
  if (!inside(realRoot, home)) {
    throw failed([`the home ${entry.home} in VE ${id} leads outside the VE; check its template`]);
  }

  const sshDir = path.join(home, '.ssh');
  await mkdir(sshDir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') {
      throw error;
    }
  });
  // Owner and mode are set through a handle opened without following a link, so a symlink
  // left at .ssh in the template cannot hand a host directory to the VE's user.
  const dirFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  const dir = await open(sshDir, dirFlags).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ELOOP' || error.code === 'ENOTDIR') {
      throw failed([`${entry.home}/.ssh in VE ${id} is not a directory; check its template`]);
    }
    throw error;
  });
  try {
    await dir.chmod(0o700);
    await dir.chown(entry.uid, entry.gid);
  } finally {
    await dir.close();
  }

  // O_NOFOLLOW: a symlink left in the template's skeleton must not redirect the write.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const file = await open(path.join(sshDir, 'authorized_keys'), flags, 0o600);
  try {
    await file.writeFile(`${publicKey}\n`);
    await file.chmod(0o600);
    await file.chown(entry.uid, entry.gid);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Creates USERNAME in VE `id` with `publicKey` as its only authorized key; see the top. */
export async function addVeUser(
  tools: VeUserTools,
  id: number,
  username: string,
  publicKey: string,
): Promise<void> {
  if (/[\r\n]/.test(publicKey) || publicKey.trim() === '') {
    throw new DriverError(AgentCode.INVALID_ARGUMENTS, ['the public key must be one line']);
  }
  const root = await tools.veRoot(id);
  const logger = tools.logger.child({ ve: id, username });

  await tools.vzctl(['mount', String(id)]);
  let failure: unknown = null;
  try {
    await useradd(tools, root, id, username);
    const entry = await passwdEntry(root, username);
    if (entry === null) {
      throw failed([`useradd succeeded but ${username} is not in VE ${id}'s /etc/passwd`]);
    }
    await installKey(root, id, entry, publicKey);
    logger.info({ uid: entry.uid }, 'user added inside the VE');
  } catch (error) {
    failure =
      error instanceof DriverError
        ? error
        : failed([`adding ${username} inside VE ${id} failed: ${(error as Error).message}`]);
  }

  try {
    await tools.vzctl(['umount', String(id)]);
  } catch (error) {
    if (failure === null) {
      throw error;
    }
    // The first failure is the one to report; a VE left mounted is logged for the crew.
    logger.error({ err: error }, 'could not unmount the VE after a failed addUser');
  }
  if (failure !== null) {
    throw failure;
  }
}
