/**
 * The directories provisioning writes into as root must be root's alone. Anyone who can write
 * into the keys directory could plant `mallory.known_hosts -> /etc/cron.d/x` and have the agent
 * create (and hand over) that file; anyone who can write into the map file's directory could
 * swap the RewriteMap. So at start, with provisioning on, every directory on the way to each of
 * them must be owned by root and not writable by group or others, or the agent refuses to start
 * and says which chown/chmod to run. A world-writable directory with the sticky bit (/tmp) may
 * sit on the way: nobody but its owner can rename or remove a root-owned entry in it.
 */
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';

export interface GuardedDirectory {
  /** The config key that names it, for the error message. */
  key: string;
  directory: string;
}

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

export class UnsafeDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeDirectoryError';
  }
}

/**
 * The directory itself when it exists, else its nearest existing ancestor (the agent makes the
 * rest itself, root-owned, at the first create).
 */
async function nearestExisting(directory: string): Promise<string> {
  let current = path.resolve(directory);
  for (;;) {
    try {
      await lstat(current);
      return await realpath(current);
    } catch (error) {
      const parent = path.dirname(current);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) {
        throw error;
      }
      current = parent;
    }
  }
}

/** Every directory from / down to `directory`, inclusive. */
function chain(directory: string): string[] {
  const steps: string[] = [];
  for (let current = directory; ; current = path.dirname(current)) {
    steps.unshift(current);
    if (path.dirname(current) === current) {
      return steps;
    }
  }
}

async function checkOne(guarded: GuardedDirectory, owners: ReadonlySet<number>): Promise<void> {
  const existing = await nearestExisting(guarded.directory);
  const steps = chain(existing);

  for (const [index, step] of steps.entries()) {
    const info = await lstat(step);
    const onTheWay = step === existing ? '' : ` (on the way to ${guarded.directory})`;
    const where = `${guarded.key}: ${step}${onTheWay}`;
    if (!info.isDirectory()) {
      throw new UnsafeDirectoryError(`${where} is not a directory; fix the path in the config`);
    }
    if (!owners.has(info.uid)) {
      throw new UnsafeDirectoryError(
        `${where} is owned by uid ${info.uid}, not root, so its owner could redirect the ` +
          `agent's writes; run: chown root:root ${step}`,
      );
    }
    const mode = info.mode & 0o7777;
    const lastStep = index === steps.length - 1;
    const stickyOnTheWay = !lastStep && (mode & STICKY) !== 0;
    if ((mode & GROUP_OR_OTHER_WRITE) !== 0 && !stickyOnTheWay) {
      throw new UnsafeDirectoryError(
        `${where} is writable by its group or others (mode ${mode.toString(8).padStart(4, '0')})` +
          `, so they could plant links the root agent would follow; run: chmod go-w ${step}`,
      );
    }
  }
}

/**
 * Throws UnsafeDirectoryError naming the first unsafe directory and the command that fixes it.
 * Root owns them on a node; an agent run by another user (a test) may own them itself.
 */
export async function checkGuardedDirectories(
  directories: readonly GuardedDirectory[],
  uid: number = process.getuid?.() ?? 0,
): Promise<void> {
  const owners = new Set([0, uid]);
  for (const guarded of directories) {
    await checkOne(guarded, owners);
  }
}
