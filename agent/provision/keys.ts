/**
 * The key pair the login-forwarding shell uses to reach the user's VE. The host keeps the
 * private half (0600, owned by the user's host account once it exists); the public half goes
 * into the VE's authorized_keys.
 */
import { access, chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

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

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the pair with ssh-keygen and answers with the public key line. Refuses to touch a pair
 * that is already there: it belongs to someone, and ssh-keygen would stop to ask anyway.
 */
export async function generateKeyPair(
  paths: KeyPaths,
  username: string,
  sshKeygen = 'ssh-keygen',
): Promise<string> {
  for (const file of [paths.privateKey, paths.publicKey, paths.knownHosts]) {
    if (await exists(file)) {
      throw new Error(
        `${file} already exists; remove the old owner's files before reusing ${username}`,
      );
    }
  }

  // The directory must be traversable by the host account that reads its own key from it.
  await mkdir(path.dirname(paths.privateKey), { recursive: true, mode: 0o755 });

  const comment = `crewvz:${username}`;
  const args = ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', paths.privateKey];
  try {
    const result = await run(sshKeygen, args, { timeoutMs: QUERY_TIMEOUT_MS });
    if (result.code !== 0) {
      throw new Error(`ssh-keygen exited ${result.code}: ${outputLines(result.stderr).join('; ')}`);
    }
    await chmod(paths.privateKey, 0o600);
    await chmod(paths.publicKey, 0o644);
    return (await readFile(paths.publicKey, 'utf8')).trim();
  } catch (error) {
    await removeKeyPair(paths);
    throw error;
  }
}

/** Hands the private key and the known_hosts file to the host account that logs in with them. */
export async function giveKeyPair(paths: KeyPaths, uid: number, gid: number): Promise<void> {
  await chown(paths.privateKey, uid, gid);
  await chown(paths.publicKey, uid, gid);

  await writeFile(paths.knownHosts, '', { flag: 'a', mode: 0o600 });
  await chmod(paths.knownHosts, 0o600);
  await chown(paths.knownHosts, uid, gid);
}

export async function removeKeyPair(paths: KeyPaths): Promise<void> {
  await rm(paths.privateKey, { force: true });
  await rm(paths.publicKey, { force: true });
  await rm(paths.knownHosts, { force: true });
}
