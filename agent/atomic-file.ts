/**
 * Replaces a file so that a reader sees either the old content or the new, never half of it,
 * even across a crash: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory so the rename itself is durable.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

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
 * Reads a file the agent keeps (map, record) without following a symlink, with its mode. A link
 * planted in its place would otherwise have root copy any file's content into a readable one.
 */
export async function readOwnFile(file: string): Promise<{ text: string; mode: number }> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new Error(`${file} is a symlink; the agent does not follow links there: remove it`);
    }
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new Error(`${file} is not a regular file; move it away`);
    }
    return { text: await handle.readFile('utf8'), mode: info.mode & 0o7777 };
  } finally {
    await handle.close();
  }
}

/**
 * The one atomic write of the agent, for provisioning (map, records) and the simulator (state,
 * beancounters). `mode` is set on the open handle, so the umask never decides it and the file is
 * never readable beyond `mode`, not even for a moment.
 */
export async function writeFileAtomic(
  target: string,
  content: string,
  mode = 0o644,
): Promise<void> {
  const directory = path.dirname(target);
  const temp = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}`);

  try {
    // 'wx' is O_CREAT|O_EXCL: a symlink at the temporary name is refused, not followed.
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
