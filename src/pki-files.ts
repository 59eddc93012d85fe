/**
 * How the PKI commands touch the disk. Keys are written to a fresh temporary file in the same
 * folder (created 0600, exclusive, so a planted symlink is refused), synced and renamed into
 * place: a symlink at the key's path is replaced, never followed, and a new key never sits in
 * an old world-readable file. The folder itself must be the operator's and closed to others,
 * since anyone who may write there can swap a certificate or a key.
 */
import { randomBytes } from 'node:crypto';
import { lstat, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { UserFacingError } from './errors.ts';

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

/** Whether anything (a symlink, dangling or not, included) has this name. */
export async function entryExists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw error;
  }
}

/**
 * A private key ends 0600 and a certificate 0644, whatever the umask and the old file were.
 * The agent has its own atomic write; the bot side may share only the wire protocol with it,
 * so this small one stands here.
 */
export async function writePem(file: string, text: string, secret: boolean): Promise<void> {
  const mode = secret ? KEY_MODE : CERT_MODE;
  const suffix = randomBytes(6).toString('hex');
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${suffix}`);

  try {
    // 'wx' is O_CREAT|O_EXCL: a symlink at the temporary name is refused, not followed.
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
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
