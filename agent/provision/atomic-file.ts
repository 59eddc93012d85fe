/**
 * Replaces a file so that a reader sees either the old content or the new, never half of it,
 * even across a crash: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory so the rename itself is durable.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(
  target: string,
  content: string,
  mode: number,
): Promise<void> {
  const directory = path.dirname(target);
  const temp = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}`);

  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content, 'utf8');

      // open() applies the umask; the target's mode must not depend on the daemon's umask.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }

  const dirHandle = await open(directory, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
