/**
 * The host account whose login shell forwards to the VE, made and removed with the real
 * useradd and userdel. `--prefix ROOT` makes them edit ROOT/etc/passwd, group, shadow and
 * gshadow, so the tests run them against a scratch root. Both tools lock the passwd files and
 * fail (instead of waiting) when another instance holds the lock, so every call goes through one
 * in-process queue.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { QUERY_TIMEOUT_MS, outputLines, run } from '../run.ts';
import { Mutex } from './mutex.ts';

/** The GECOS field of every account crewvz makes; remove refuses accounts without it. */
export const ACCOUNT_COMMENT = 'crewvz';

/** useradd: the username is already in use. */
const USERADD_EXISTS = 9;
/** userdel: the user does not exist. */
const USERDEL_NO_USER = 6;

const passwdLock = new Mutex();

export interface HostAccount {
  uid: number;
  gid: number;
  comment: string;
  shell: string;
}

export interface AccountTools {
  useradd: string;
  userdel: string;
}

export const DEFAULT_TOOLS: AccountTools = { useradd: 'useradd', userdel: 'userdel' };

/** Looks the user up in ROOT/etc/passwd; null when there is no such line. */
export async function findHostAccount(
  root: string,
  username: string,
): Promise<HostAccount | null> {
  const passwd = await readFile(path.join(root, 'etc', 'passwd'), 'utf8');

  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === username && fields.length >= 7) {
      return {
        uid: Number(fields[2]),
        gid: Number(fields[3]),
        comment: fields[4] ?? '',
        shell: fields[6] ?? '',
      };
    }
  }
  return null;
}

/** Adds the account with `shell` (a path as the host sees it) and no home directory. */
export async function addHostAccount(
  root: string,
  username: string,
  shell: string,
  tools: AccountTools = DEFAULT_TOOLS,
): Promise<HostAccount> {
  return passwdLock.run(async () => {
    const args = ['--prefix', root, '-M', '-s', shell, '-c', ACCOUNT_COMMENT, username];
    const result = await run(tools.useradd, args, { timeoutMs: QUERY_TIMEOUT_MS });

    if (result.code === USERADD_EXISTS) {
      throw new Error(`host account ${username} already exists; pick another username`);
    }
    if (result.code !== 0) {
      throw new Error(`useradd exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
    }

    const account = await findHostAccount(root, username);
    if (account === null) {
      throw new Error(`useradd succeeded but ${username} is not in ${root}/etc/passwd`);
    }
    return account;
  });
}

/**
 * Deletes the account and its group. An account that is already gone is fine (remove must be
 * repeatable); one that crewvz did not make is left alone and reported.
 */
export async function removeHostAccount(
  root: string,
  username: string,
  tools: AccountTools = DEFAULT_TOOLS,
): Promise<void> {
  await passwdLock.run(async () => {
    const account = await findHostAccount(root, username);
    if (account === null) {
      return;
    }
    if (account.comment !== ACCOUNT_COMMENT) {
      throw new Error(`host account ${username} was not made by crewvz; left in place`);
    }

    const result = await run(tools.userdel, ['--prefix', root, username], {
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    if (result.code !== 0 && result.code !== USERDEL_NO_USER) {
      throw new Error(`userdel exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
    }
  });
}
