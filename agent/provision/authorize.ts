/**
 * `authorize ID KEY`: the student's own public key for their host account, so sshd lets
 * `ssh USERNAME@NODE` in and the login-forwarding shell takes them on into the VE. sshd reads
 * it from `AuthorizedKeysFile /etc/crewvz/authorized_keys/%u` (docs/provisioning.md): a
 * root-owned 0644 file in a root-owned 0755 folder, so StrictModes accepts it and the student
 * cannot edit it (no options, no second key). One key per account: a new one replaces the old.
 */
import { chmod, lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

import { writeFileAtomic } from '../atomic-file.ts';
import { DriverError } from '../driver.ts';
import type { AuthorizedKey } from '../protocol.ts';
import { authorizedKeyLine, type PublicKey } from './public-key.ts';
import type { RecordStore } from './records.ts';

/** vzctl's status for an unknown VE, which `start` and `stop` answer too. */
const VZ_NO_SUCH_VE = 14;

const KEY_FILE_MODE = 0o644;
const KEY_DIR_MODE = 0o755;

export interface AuthorizeContext {
  records: RecordStore;
  /** The folder under root that holds one file per host account. */
  directory: string;
  logger: Logger;
}

/**
 * Makes the folder (and any missing parent) 0755 whatever the umask, since sshd reads the file
 * as the user; refuses a folder that is a symlink or writable by others (StrictModes would
 * refuse it too, and silently).
 */
async function keyDirectory(directory: string): Promise<void> {
  const first = await mkdir(directory, { recursive: true, mode: KEY_DIR_MODE });
  if (first !== undefined) {
    const top = path.resolve(first);
    for (let at = path.resolve(directory); ; at = path.dirname(at)) {
      await chmod(at, KEY_DIR_MODE);
      if (at === top || path.dirname(at) === at) {
        break;
      }
    }
  }

  const info = await lstat(directory);
  if (!info.isDirectory() || (info.mode & 0o022) !== 0) {
    throw new Error(
      `${directory} must be a plain directory writable by root only; run: chmod 0755 ${directory}`,
    );
  }
}

export async function authorizeKey(
  id: number,
  key: PublicKey,
  context: AuthorizeContext,
): Promise<AuthorizedKey> {
  const record = await context.records.read(id);
  if (record === null) {
    throw new DriverError(VZ_NO_SUCH_VE, [
      `VE ${id} was not provisioned by this agent, so it has no host account to take a key`,
    ]);
  }
  if (!record.complete) {
    throw new DriverError(VZ_NO_SUCH_VE, [
      `VE ${id}'s provisioning never finished; run remove ${id} and create it again`,
    ]);
  }

  const { username } = record;
  const file = path.join(context.directory, username);
  // Listed before it is written: a crash in between leaves a record that remove still cleans.
  await context.records.addFile(record, file);
  await keyDirectory(context.directory);
  await writeFileAtomic(file, authorizedKeyLine(key), KEY_FILE_MODE);

  const result: AuthorizedKey = { username, type: key.type, fingerprint: key.fingerprint };
  context.logger.info({ ve: id, ...result }, 'login key installed');
  return result;
}
