/**
 * The Apache RewriteMap text file (`RewriteMap crewvz txt:...`) that proxies USERNAME.domain to
 * the VE: one `USERNAME ADDRESS` line per VE. Apache rereads the file when its mtime changes,
 * so it is always replaced atomically; comments, blank lines and lines crewvz did not write stay
 * exactly as they were. Writers of one file queue behind each other.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { readOwnFile, syncDirectory, writeFileAtomic, type FileOwner } from '../atomic-file.ts';
import { KeyedMutex } from '../mutex.ts';
import type { CreatedMaps } from './created-maps.ts';

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

interface MapText {
  lines: string[];
  mode: number;
  /** Unknown for a file that does not exist yet: it will be the agent's (root's). */
  owner?: FileOwner;
  exists: boolean;
  /** Whether the last line ends with a newline; a file without one is written back without. */
  finalNewline: boolean;
}

async function readMap(file: string): Promise<MapText> {
  try {
    const { text, mode, owner } = await readOwnFile(file);
    const lines = text.split('\n');

    // A trailing newline yields one empty last element; it comes back on write.
    if (lines.at(-1) === '') {
      lines.pop();
    }
    return { lines, mode, owner, exists: true, finalNewline: text === '' || text.endsWith('\n') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { lines: [], mode: MAP_MODE, exists: false, finalNewline: true };
    }
    throw error;
  }
}

function mapContent(map: MapText, lines: string[]): string {
  const text = lines.join('\n');
  return lines.length > 0 && map.finalNewline ? `${text}\n` : text;
}

/** Deletes the map file and makes its removal durable, as writeFileAtomic does a rename. */
async function deleteMap(file: string): Promise<void> {
  await rm(file, { force: true });
  await syncDirectory(path.dirname(file));
}

/**
 * Adds `USERNAME ADDRESS`; a username that already has a line is refused, not overwritten. When
 * there is no map file yet, `created` notes that the agent made it (before it exists, so a crash
 * can never leave a made file unnoted).
 */
export async function addMapEntry(
  file: string,
  username: string,
  address: string,
  created?: CreatedMaps,
): Promise<void> {
  await locks.run(path.resolve(file), async () => {
    const map = await readMap(file);
    const clash = map.lines.map(entryOf).find((entry) => entry?.[0] === username);

    if (clash) {
      throw new Error(
        `${file} already maps ${username} to ${clash[1]}; ` +
          'remove that line or pick another username',
      );
    }
    if (!map.exists) {
      await created?.add(file);
    }
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    const content = mapContent(map, [...map.lines, `${username} ${address}`]);
    await writeFileAtomic(file, content, map.mode, map.owner);
  });
}

/**
 * Removes the line mapping `username` to `address`; a line pointing elsewhere is kept. A map
 * file that `created` says the agent made is deleted once no line at all is left in it.
 */
export async function removeMapEntry(
  file: string,
  username: string,
  address: string,
  created?: CreatedMaps,
): Promise<void> {
  await locks.run(path.resolve(file), async () => {
    const map = await readMap(file);
    const kept = map.lines.filter((line) => {
      const entry = entryOf(line);
      return !(entry?.[0] === username && entry[1] === address);
    });
    if (kept.length === map.lines.length) {
      return;
    }

    if (kept.length === 0 && created && (await created.has(file))) {
      await deleteMap(file);
      await created.delete(file);
      return;
    }
    await writeFileAtomic(file, mapContent(map, kept), map.mode, map.owner);
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
