/**
 * The Apache RewriteMap text file (`RewriteMap crewvz txt:...`) that proxies USERNAME.domain to
 * the VE: one `USERNAME ADDRESS` line per VE. Apache rereads the file when its mtime changes,
 * so it is always replaced atomically; comments, blank lines and lines crewvz did not write stay
 * exactly as they were. Writers of one file queue behind each other.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { readOwnFile, writeFileAtomic } from '../atomic-file.ts';
import { KeyedMutex } from '../mutex.ts';

/** Readable by the web server, which does not run as root. */
const MAP_MODE = 0o644;

/** Writers of one map file queue behind each other. */
const locks = new KeyedMutex();

/** The key and value of a map line; null for comments, blanks and anything else. */
function entryOf(line: string): [string, string] | null {
  const trimmed = line.trim();

  if (trimmed === '' || trimmed.startsWith('#')) {
    return null;
  }
  const [key, value] = trimmed.split(/\s+/);
  return key !== undefined && value !== undefined ? [key, value] : null;
}

async function readMap(file: string): Promise<{ lines: string[]; mode: number }> {
  try {
    const { text, mode } = await readOwnFile(file);
    const lines = text.split('\n');

    // A trailing newline yields one empty last element; it comes back on write.
    if (lines.at(-1) === '') {
      lines.pop();
    }
    return { lines, mode };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { lines: [], mode: MAP_MODE };
    }
    throw error;
  }
}

async function rewrite(file: string, edit: (lines: string[]) => string[] | null): Promise<void> {
  await locks.run(path.resolve(file), async () => {
    const { lines, mode } = await readMap(file);
    const edited = edit(lines);

    if (edited === null) {
      return;
    }
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, edited.map((line) => `${line}\n`).join(''), mode);
  });
}

/** Adds `USERNAME ADDRESS`; a username that already has a line is refused, not overwritten. */
export async function addMapEntry(file: string, username: string, address: string): Promise<void> {
  await rewrite(file, (lines) => {
    const clash = lines.map(entryOf).find((entry) => entry?.[0] === username);

    if (clash) {
      throw new Error(
        `${file} already maps ${username} to ${clash[1]}; ` +
          'remove that line or pick another username',
      );
    }
    return [...lines, `${username} ${address}`];
  });
}

/** Removes the line mapping `username` to `address`; a line pointing elsewhere is kept. */
export async function removeMapEntry(
  file: string,
  username: string,
  address: string,
): Promise<void> {
  await rewrite(file, (lines) => {
    const kept = lines.filter((line) => {
      const entry = entryOf(line);
      return !(entry?.[0] === username && entry[1] === address);
    });
    return kept.length === lines.length ? null : kept;
  });
}

/** The map as key → value, for tests and for `remove` to check what is there. */
export async function readMapEntries(file: string): Promise<Map<string, string>> {
  const { lines } = await readMap(file);
  const entries = new Map<string, string>();

  for (const entry of lines.map(entryOf)) {
    if (entry !== null) {
      entries.set(entry[0], entry[1]);
    }
  }
  return entries;
}
