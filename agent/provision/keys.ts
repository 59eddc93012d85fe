/**
 * The key pair the login-forwarding shell uses to reach the user's VE. The host keeps the
 * private half (0600, owned by the user's host account once it exists); the public half goes
 * into the VE's authorized_keys.
 *
 * The agent is root and the files end up owned by a student's account, so no path here is
 * followed through a symlink: ssh-keygen writes into a fresh private directory, the pair is
 * hard-linked into place (link() never replaces anything, a dangling symlink included), and
 * owners and modes are set on open handles (O_NOFOLLOW), never on paths.
 */
import { constants } from 'node:fs';
import { link, mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { entryExists } from '../atomic-file.ts';
import { QUERY_TIMEOUT_MS, outputLines, run } from '../run.ts';

export interface KeyPaths {
  privateKey: string;
  publicKey: string;
  /** Where the forwarding ssh keeps the VE's host key (accept-new needs a file to write). */
  knownHosts: string;
}

export function keyPaths(keysDirectory: string, username: string): KeyPaths {
  const privateKey = path.join(keysDirectory, username);
  return {
    privateKey,
    publicKey: `${privateKey}.pub`,
    knownHosts: `${privateKey}.known_hosts`,
  };
}

/**
 * Opens an existing key file for the agent's own use: no symlink, a plain file with one link
 * (a hard link to /etc/shadow would otherwise be handed to the user by fchown).
 */
async function openKeyFile(file: string, flags: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, flags | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new Error(`${file} is a symlink; remove it (the agent never follows links there)`);
    }
    throw error;
  }
  const info = await handle.stat();
  if (!info.isFile() || info.nlink !== 1) {
    await handle.close();
    throw new Error(`${file} is not a plain file of its own; remove it and try again`);
  }
  return handle;
}

/** Sets mode (and owner) through an open handle, so the file that changes is the one opened. */
async function settle(file: string, mode: number, owner?: { uid: number; gid: number }) {
  const handle = await openKeyFile(file, constants.O_RDONLY);
  try {
    await handle.chmod(mode);
    if (owner) {
      await handle.chown(owner.uid, owner.gid);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Makes the pair with ssh-keygen and answers with the public key line. Refuses to touch a pair
 * that is already there (any file, symlink or not, with one of the three names): it belongs to
 * someone.
 */
export async function generateKeyPair(
  paths: KeyPaths,
  username: string,
  sshKeygen = 'ssh-keygen',
): Promise<string> {
  for (const file of [paths.privateKey, paths.publicKey, paths.knownHosts]) {
    if (await entryExists(file)) {
      throw new Error(
        `${file} already exists; remove the old owner's files before reusing ${username}`,
      );
    }
  }

  // The directory must be traversable by the host account that reads its own key from it.
  const directory = path.dirname(paths.privateKey);
  await mkdir(directory, { recursive: true, mode: 0o755 });
  // Same directory, so link() works; mkdtemp makes it 0700 and the name is unguessable.
  const scratch = await mkdtemp(path.join(directory, '.keygen-'));
  const made: string[] = [];

  try {
    const fresh = path.join(scratch, 'key');
    const comment = `crewvz:${username}`;
    const args = ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', fresh];
    const result = await run(sshKeygen, args, { timeoutMs: QUERY_TIMEOUT_MS });
    if (result.code !== 0) {
      throw new Error(`ssh-keygen exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
    }
    await settle(fresh, 0o600);
    await settle(`${fresh}.pub`, 0o644);
    const handle = await openKeyFile(`${fresh}.pub`, constants.O_RDONLY);
    let publicKey: string;
    try {
      publicKey = (await handle.readFile('utf8')).trim();
    } finally {
      await handle.close();
    }

    for (const [from, to] of [
      [fresh, paths.privateKey],
      [`${fresh}.pub`, paths.publicKey],
    ] as const) {
      await link(from, to);
      made.push(to);
    }
    return publicKey;
  } catch (error) {
    // Only what this call linked: a file that was in the way belongs to someone else.
    await Promise.all(made.map((file) => rm(file, { force: true })));
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Hands the private key and the known_hosts file to the host account that logs in with them. */
export async function giveKeyPair(paths: KeyPaths, uid: number, gid: number): Promise<void> {
  await settle(paths.privateKey, 0o600, { uid, gid });
  await settle(paths.publicKey, 0o644, { uid, gid });

  // O_EXCL: never open what is already there, a planted symlink included.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(paths.knownHosts, flags, 0o600);
  try {
    await handle.chmod(0o600);
    await handle.chown(uid, gid);
  } finally {
    await handle.close();
  }
}

export async function removeKeyPair(paths: KeyPaths): Promise<void> {
  await rm(paths.privateKey, { force: true });
  await rm(paths.publicKey, { force: true });
  await rm(paths.knownHosts, { force: true });
}
