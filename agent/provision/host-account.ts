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
import { Mutex } from '../mutex.ts';

/** The GECOS field of every account crewvz makes; remove refuses accounts without it. */
export const ACCOUNT_COMMENT = 'crewvz';

/**
 * Every host account crewvz makes is in this group, so sshd's `Match Group crewvz` can switch
 * off forwarding for all of them (`ssh -N -L` never runs the login shell; docs/provisioning.md).
 */
export const ACCOUNT_GROUP = 'crewvz';

/** useradd: the username is already in use. */
/** The shadow password field of a host account: no password login, yet not locked. */
const NO_PASSWORD = '*';
const USERADD_EXISTS = 9;
/** userdel: the user does not exist. */
const USERDEL_NO_USER = 6;

const passwdLock = new Mutex();

export interface HostAccount {
  uid: number;
  gid: number;
  comment: string;
  shell: string;
  /** True when this call made the crewvz group (so undoing it may remove the group again). */
  madeGroup: boolean;
}

export interface AccountTools {
  useradd: string;
  userdel: string;
  groupadd: string;
  groupdel: string;
}

export const DEFAULT_TOOLS: AccountTools = {
  useradd: 'useradd',
  userdel: 'userdel',
  groupadd: 'groupadd',
  groupdel: 'groupdel',
};

interface GroupEntry {
  gid: number;
  members: string[];
}

/** The group's line in ROOT/etc/group; null when there is none. */
export async function findGroup(root: string, name: string): Promise<GroupEntry | null> {
  const group = await readFile(path.join(root, 'etc', 'group'), 'utf8');

  for (const line of group.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 4) {
      const members = (fields[3] ?? '').split(',').filter((member) => member !== '');
      return { gid: Number(fields[2]), members };
    }
  }
  return null;
}

/** Makes the crewvz group unless it is there; says whether it made it. Under passwdLock. */
async function ensureGroup(root: string, tools: AccountTools): Promise<boolean> {
  if ((await findGroup(root, ACCOUNT_GROUP)) !== null) {
    return false;
  }
  const args = ['--prefix', root, '--system', ACCOUNT_GROUP];
  const result = await run(tools.groupadd, args, { timeoutMs: QUERY_TIMEOUT_MS });
  if (result.code !== 0) {
    throw new Error(
      `groupadd ${ACCOUNT_GROUP} exited ${result.code}: ${outputLines(result.stderr).join('; ')}`,
    );
  }
  return true;
}

/** Removes the crewvz group when nobody is in it (no member, no primary gid). Under passwdLock. */
async function dropEmptyGroup(root: string, tools: AccountTools): Promise<void> {
  const group = await findGroup(root, ACCOUNT_GROUP);
  if (group === null || group.members.length > 0) {
    return;
  }
  const passwd = await readFile(path.join(root, 'etc', 'passwd'), 'utf8');
  if (passwd.split('\n').some((line) => Number(line.split(':')[3]) === group.gid)) {
    return;
  }
  const result = await run(tools.groupdel, ['--prefix', root, ACCOUNT_GROUP], {
    timeoutMs: QUERY_TIMEOUT_MS,
  });
  if (result.code !== 0) {
    throw new Error(`groupdel exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
  }
}

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
        madeGroup: false,
      };
    }
  }
  return null;
}

/**
 * Adds the account with `shell` (a path as the host sees it), no home directory, and the
 * crewvz group as a supplementary group (made first when missing).
 */
export async function addHostAccount(
  root: string,
  username: string,
  shell: string,
  tools: AccountTools = DEFAULT_TOOLS,
): Promise<HostAccount> {
  return passwdLock.run(async () => {
    const madeGroup = await ensureGroup(root, tools);
    // '*' (no password matches it) rather than useradd's '!' (locked): sshd refuses every login
    // of a locked account when UsePAM is off, the student's own key included.
    const args = ['--prefix', root, '-M', '-p', NO_PASSWORD, '-s', shell, '-c', ACCOUNT_COMMENT];
    const result = await run(tools.useradd, [...args, '-G', ACCOUNT_GROUP, username], {
      timeoutMs: QUERY_TIMEOUT_MS,
    });

    if (result.code !== 0) {
      if (madeGroup) {
        await dropEmptyGroup(root, tools);
      }
      if (result.code === USERADD_EXISTS) {
        throw new Error(`host account ${username} already exists; pick another username`);
      }
      throw new Error(`useradd exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
    }

    const account = await findHostAccount(root, username);
    if (account === null) {
      throw new Error(`useradd succeeded but ${username} is not in ${root}/etc/passwd`);
    }
    return { ...account, madeGroup };
  });
}

/**
 * Deletes the account and its own group. An account that is already gone is fine (remove must
 * be repeatable); one that crewvz did not make is left alone and reported. The crewvz group
 * stays (other accounts use it, and sshd's Match block names it) unless `dropGroup` says this
 * create made it: then it goes too once it is empty, so a rolled-back first create leaves
 * /etc/group as it was.
 */
export async function removeHostAccount(
  root: string,
  username: string,
  tools: AccountTools = DEFAULT_TOOLS,
  dropGroup = false,
): Promise<void> {
  await passwdLock.run(async () => {
    await deleteAccount(root, username, tools);
    if (dropGroup) {
      await dropEmptyGroup(root, tools);
    }
  });
}

async function deleteAccount(root: string, username: string, tools: AccountTools): Promise<void> {
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
}
