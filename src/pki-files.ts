/**
 * How the PKI commands touch the disk. Keys are written to a fresh temporary file in the same
 * folder (created 0600, exclusive, so a planted symlink is refused), synced and renamed into
 * place: a symlink at the key's path is replaced, never followed, and a new key never sits in
 * an old world-readable file. The folder itself must be the operator's and closed to others,
 * since anyone who may write there can swap a certificate or a key.
 */
import { stat } from 'node:fs/promises';

import { entryExists, writeFileAtomic } from '../agent/atomic-file.ts';
import { UserFacingError } from './errors.ts';

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

/** A private key ends 0600 and a certificate 0644, whatever the umask and the old file were. */
export async function writePem(file: string, text: string, secret: boolean): Promise<void> {
  await writeFileAtomic(file, text, secret ? KEY_MODE : CERT_MODE);
}

/**
 * Refuses a PKI folder that is not a folder, belongs to someone else, or that the group or
 * everyone may write to; the error says the command that fixes it.
 */
export async function checkPkiDir(dir: string): Promise<void> {
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw new UserFacingError(`${dir} is not a folder; give --dir a folder for the PKI files`);
  }

  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new UserFacingError(
      `${dir} belongs to uid ${info.uid}, not to you (uid ${uid}); ` +
        `run 'chown ${uid} ${dir}' or use a folder of your own`,
    );
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new UserFacingError(
      `${dir} may be written by others (mode ${mode}); run 'chmod go-w ${dir}' ` +
        `(or 'chmod 700 ${dir}') and try again`,
    );
  }
}
