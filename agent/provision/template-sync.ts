/**
 * `update`: brings the node's template cache in line with `templateSource`, a directory or an
 * HTTPS URL serving `index.json` = [{name, size, sha256}] beside the tarballs. Each template is
 * copied to a hidden temporary name in the cache, checked against its size and sha256, and only
 * then renamed over the old one, so a broken download never replaces a good template; it is
 * reported by name and the rest carry on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';

import { syncDirectory } from '../atomic-file.ts';
import { redactUrlCredentials, redactedMessage } from '../redact.ts';
import type { SyncResult } from '../protocol.ts';
import { templateName } from '../templates.ts';
import { KeyedMutex } from '../mutex.ts';
import { httpsGet, readAll } from './https-get.ts';

export interface TemplateEntry {
  name: string;
  size: number;
  sha256: string;
}

export interface SyncOptions {
  /** A directory, or an https:// URL of the folder that holds index.json. */
  source: string;
  cacheDir: string;
  /** PEM CA certificates that sign the source's HTTPS certificate; null trusts Node's store. */
  ca: string | null;
  logger: Logger;
}

/** A plain file name vzctl recognises as a template: no slashes, no leading dot. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
const INDEX = 'index.json';
const MAX_INDEX_BYTES = 1024 * 1024;

/** One sync per cache folder at a time. */
const locks = new KeyedMutex();

/** Checks index.json's shape so a bad entry cannot name a path outside the cache. */
export function parseIndex(text: string, where: string): TemplateEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not JSON; it must be a list of {name, size, sha256}`);
  }
  if (!Array.isArray(value)) {
    throw new Error(`${where} must be a list of {name, size, sha256}`);
  }

  return value.map((item: unknown, index) => {
    const entry = item as Partial<TemplateEntry> | null;
    const fine =
      typeof entry?.name === 'string' &&
      FILE_NAME.test(entry.name) &&
      templateName(entry.name) !== null &&
      Number.isSafeInteger(entry.size) &&
      (entry.size ?? -1) >= 0 &&
      typeof entry.sha256 === 'string' &&
      SHA256.test(entry.sha256);
    if (!fine) {
      throw new Error(`${where} entry ${index} is not {name: "x.tar.gz", size, sha256 (hex)}`);
    }
    return { name: entry.name, size: entry.size, sha256: entry.sha256 } as TemplateEntry;
  });
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The index of a directory source: its index.json if there is one, else every tarball in it. */
async function directoryIndex(directory: string): Promise<TemplateEntry[]> {
  try {
    const text = await readFile(path.join(directory, INDEX), 'utf8');
    return parseIndex(text, path.join(directory, INDEX));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }

  const entries: TemplateEntry[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.isFile() && FILE_NAME.test(entry.name) && templateName(entry.name) !== null) {
      const file = path.join(directory, entry.name);
      const { size } = await stat(file);
      entries.push({ name: entry.name, size, sha256: await hashFile(file) });
    }
  }
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}

function isHttps(source: string): boolean {
  return source.startsWith('https://');
}

function sourceUrl(source: string, name: string): URL {
  const base = source.endsWith('/') ? source : `${source}/`;
  return new URL(encodeURIComponent(name), base);
}

/** Counts and hashes what flows through, and stops the copy as soon as it runs past `size`. */
function checker(entry: TemplateEntry): { stream: Transform; result: () => [number, string] } {
  const hash = createHash('sha256');
  let bytes = 0;

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > entry.size) {
        done(new Error(`more than the ${entry.size} bytes index.json promises`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, result: () => [bytes, hash.digest('hex')] };
}

/** Copies the template into `temp`, checks size and sha256, and fsyncs it. */
async function download(options: SyncOptions, entry: TemplateEntry, temp: string) {
  const input: Readable = isHttps(options.source)
    ? await httpsGet(sourceUrl(options.source, entry.name), options.ca)
    : createReadStream(path.join(options.source, entry.name));
  const check = checker(entry);
  // 'wx' is O_CREAT|O_EXCL: nothing already at the temporary name is ever written through.
  await pipeline(input, check.stream, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));

  const [bytes, sha256] = check.result();
  if (bytes !== entry.size) {
    throw new Error(`truncated: got ${bytes} of ${entry.size} bytes`);
  }
  if (sha256 !== entry.sha256) {
    throw new Error(`sha256 is ${sha256}, index.json says ${entry.sha256}`);
  }

  // On disk before the rename: a crash must never leave the cache name on a short file. fsync
  // flushes the file, whichever descriptor it is called on.
  const handle = await open(temp, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Copies one template to a temporary name, checks it and renames it into the cache. */
async function fetchOne(options: SyncOptions, entry: TemplateEntry): Promise<void> {
  const target = path.join(options.cacheDir, entry.name);
  const suffix = randomBytes(6).toString('hex');
  const temp = path.join(options.cacheDir, `.${entry.name}.${suffix}.part`);

  try {
    await download(options, entry, temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(options.cacheDir);
}

async function loadIndex(options: SyncOptions): Promise<TemplateEntry[]> {
  if (!isHttps(options.source)) {
    return directoryIndex(options.source);
  }
  const url = sourceUrl(options.source, INDEX);
  const body = await readAll(await httpsGet(url, options.ca), MAX_INDEX_BYTES);
  return parseIndex(body.toString('utf8'), redactUrlCredentials(url.toString()));
}

/** Whether the cache already holds exactly this template. */
async function cachedMatches(file: string, entry: TemplateEntry): Promise<boolean | null> {
  try {
    if ((await stat(file)).size !== entry.size) {
      return false;
    }
  } catch {
    return null;
  }
  return (await hashFile(file)) === entry.sha256;
}

/**
 * Names index.json lists more than once, with how often. Which of the entries to trust is
 * anyone's guess, so none is: the cached copy stays and the name is reported.
 */
function duplicateNames(index: TemplateEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { name } of index) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return new Map([...counts].filter(([, count]) => count > 1));
}

/** Syncs every template in the source; a failure of one is reported and the rest carry on. */
export async function syncTemplates(options: SyncOptions): Promise<SyncResult> {
  if (!isHttps(options.source) && !path.isAbsolute(options.source)) {
    throw new Error(`templateSource ${options.source} must be an absolute directory or https URL`);
  }

  return locks.run(path.resolve(options.cacheDir), async () => {
    const index = await loadIndex(options);
    const result: SyncResult = { added: [], updated: [], unchanged: [], failed: [] };
    await mkdir(options.cacheDir, { recursive: true, mode: 0o755 });

    const duplicates = duplicateNames(index);
    for (const [name, count] of duplicates) {
      const reason = `index.json lists it ${count} times; list each template once`;
      options.logger.warn({ template: name, count }, 'template listed more than once; skipped');
      result.failed.push({ name, reason });
    }

    for (const entry of index.filter(({ name }) => !duplicates.has(name))) {
      const logger = options.logger.child({ template: entry.name });
      const cached = await cachedMatches(path.join(options.cacheDir, entry.name), entry);
      if (cached === true) {
        result.unchanged.push(entry.name);
        continue;
      }

      try {
        await fetchOne(options, entry);
        (cached === null ? result.added : result.updated).push(entry.name);
        logger.info({ size: entry.size }, cached === null ? 'template added' : 'template updated');
      } catch (error) {
        const reason = redactedMessage(error);
        logger.warn({ reason }, 'template download failed; the cached copy is kept');
        result.failed.push({ name: entry.name, reason });
      }
    }
    return result;
  });
}
