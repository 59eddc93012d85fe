/**
 * The login-forwarding shell: the host account's login shell is a tiny script that execs ssh to
 * the same user inside their VE, so `ssh USERNAME@node` lands in the VE. Every value written into
 * the script is checked against a whitelist first, so its content is safe by construction: no
 * quoting tricks are needed because nothing that could need quoting ever gets in.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';

import { USERNAME_PATTERN } from '../protocol.ts';
import { isIpv4 } from './addresses.ts';

/** Absolute paths of plain characters only: they are written into the script unquoted. */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export const SHELL_MODE = 0o755;

export interface LoginShellSpec {
  username: string;
  address: string;
  /** The paths as the host account sees them (that is, without the test's scratch root). */
  privateKey: string;
  knownHosts: string;
  ssh: string;
}

function check(spec: LoginShellSpec): void {
  if (!USERNAME_PATTERN.test(spec.username)) {
    throw new Error(`username ${JSON.stringify(spec.username)} breaks the node's username rule`);
  }
  if (!isIpv4(spec.address)) {
    throw new Error(`address ${JSON.stringify(spec.address)} is not an IPv4 address`);
  }
  for (const [name, value] of Object.entries({
    privateKey: spec.privateKey,
    knownHosts: spec.knownHosts,
    ssh: spec.ssh,
  })) {
    if (!SAFE_PATH.test(value) || value.split('/').includes('..')) {
      throw new Error(`${name} path ${JSON.stringify(value)} must be absolute and plain`);
    }
  }
}

/**
 * sshd runs a login shell as `SHELL` (interactive) or `SHELL -c COMMAND` (ssh host command,
 * scp, sftp). The command string becomes the remote command as one argument; anything else is
 * passed on untouched, after `--` and the destination, so it can never be read as ssh options.
 */
export function loginShellScript(spec: LoginShellSpec): string {
  check(spec);
  const ssh = [
    spec.ssh,
    // No ssh_config at all, the account's own ~/.ssh/config included: only the options below.
    '-F /dev/null',
    // A refused key or a changed host key fails at once instead of prompting or hanging.
    '-o BatchMode=yes',
    `-i ${spec.privateKey}`,
    '-o StrictHostKeyChecking=accept-new',
    `-o UserKnownHostsFile=${spec.knownHosts}`,
    '-o IdentitiesOnly=yes',
    // No escape character and no forwarding on the hop into the VE (sshd's Match Group block
    // closes the hop into the host; docs/provisioning.md).
    '-e none',
    '-o ClearAllForwardings=yes',
    '--',
    `${spec.username}@${spec.address}`,
  ].join(' ');

  return [
    '#!/bin/sh',
    `# crewvz login forwarding for ${spec.username}: made by the node agent, removed with the VE.`,
    'if [ "$#" -ge 2 ] && [ "$1" = "-c" ]; then',
    `  exec ${ssh} "$2"`,
    'fi',
    `exec ${ssh} "$@"`,
    '',
  ].join('\n');
}

/** Writes the script with mode 0755; refuses to replace a file that is already there. */
export async function writeLoginShell(file: string, spec: LoginShellSpec): Promise<void> {
  const script = loginShellScript(spec);

  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  // O_EXCL refuses anything already there, a planted symlink included; the mode is set on the
  // handle, so it can only ever change the file this call made.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(file, flags, SHELL_MODE);
  try {
    await handle.writeFile(script, 'utf8');
    await handle.chmod(SHELL_MODE);
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  } finally {
    await handle.close();
  }
}

export async function removeLoginShell(file: string): Promise<void> {
  await rm(file, { force: true });
}
