/**
 * Replaces a file so that a reader sees either the old content or the new, never half of it,
 * even across a crash: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory so the rename itself is durable.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, rm } from 'node:fs/promises';
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
export interface OwnFile {
  text: string;
  mode: number;
  /** Who owns it: a rewrite hands the new file to the same owner and group. */
  owner: FileOwner;
}

export interface FileOwner {
  uid: number;
  gid: number;
}

export async function readOwnFile(file: string): Promise<OwnFile> {
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
    const owner = { uid: info.uid, gid: info.gid };
    return { text: await handle.readFile('utf8'), mode: info.mode & 0o7777, owner };
  } finally {
    await handle.close();
  }
}

/**
 * The one atomic write of the agent, for provisioning (map, records) and the simulator (state,
 * beancounters). `mode` and `owner` are set on the open handle, so the umask never decides the
 * mode, the file is never readable beyond `mode`, not even for a moment, and a file that was
 * root:www-data 0640 stays readable by the web server (the rename would otherwise leave the
 * agent's own root:root).
 */
export async function writeFileAtomic(
  target: string,
  content: string,
  mode = 0o644,
  owner?: FileOwner,
): Promise<void> {
  const directory = path.dirname(target);
  const temp = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}`);

  try {
    // 'wx' is O_CREAT|O_EXCL: a symlink at the temporary name is refused, not followed.
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content, 'utf8');

      // chown before chmod: chown clears set-id bits. open() applies the umask; the target's
      // mode must not depend on the daemon's umask.
      if (owner) {
        await handle.chown(owner.uid, owner.gid);
      }
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

  await syncDirectory(directory);
}

/** fsyncs a directory, so a rename or unlink in it survives a crash. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The names in `directory`, or none when it does not exist yet (nothing was ever written). */
export async function namesIn(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
}
