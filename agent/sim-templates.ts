/**
 * Small but real OS template tarballs for the sim driver, so `templates` and `create` have
 * something to find on a machine with no vzctl cache. Each is a gzip'd ustar archive written
 * here byte by byte; `tar -tzf` lists it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { listTemplates } from './templates.ts';

const BLOCK_BYTES = 512;

/** Midnight 2024-01-01 UTC, so the tarballs are the same bytes on every run. */
const MTIME_SECONDS = 1704067200;

interface Entry {
  name: string;
  body?: string;
}

interface OsRelease {
  pretty: string;
  id: string;
  version: string;
}

const SIM_TEMPLATES: Record<string, OsRelease> = {
  'debian-12-x86_64-minimal': {
    pretty: 'Debian GNU/Linux 12 (bookworm)',
    id: 'debian',
    version: '12',
  },
  'ubuntu-22.04-x86_64-minimal': { pretty: 'Ubuntu 22.04 LTS', id: 'ubuntu', version: '22.04' },
};

/** Writes the sim's templates into `dir` when it holds none; returns the names written. */
export async function ensureSimTemplates(dir: string): Promise<string[]> {
  if ((await listTemplates(dir)).length > 0) {
    return [];
  }
  await mkdir(dir, { recursive: true });

  for (const [name, os] of Object.entries(SIM_TEMPLATES)) {
    const entries: Entry[] = [
      { name: './' },
      { name: './etc/' },
      {
        name: './etc/os-release',
        body: `PRETTY_NAME="${os.pretty}"\nID=${os.id}\nVERSION_ID="${os.version}"\n`,
      },
      { name: './etc/hostname', body: 'localhost\n' },
      { name: './sbin/' },
      { name: './sbin/init', body: '#!/bin/sh\n# crewvz sim template: a placeholder init\n' },
    ];
    await writeFile(path.join(dir, `${name}.tar.gz`), gzipSync(tarball(entries)));
  }
  return Object.keys(SIM_TEMPLATES).sort();
}

/** A ustar archive: a header block per entry, bodies padded to 512 bytes, two zero blocks. */
export function tarball(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];

  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '', 'utf8');
    parts.push(header(entry, body.length));
    if (body.length > 0) {
      const padded = Buffer.alloc(Math.ceil(body.length / BLOCK_BYTES) * BLOCK_BYTES);
      body.copy(padded);
      parts.push(padded);
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK_BYTES));
  return Buffer.concat(parts);
}

function header(entry: Entry, size: number): Buffer {
  const block = Buffer.alloc(BLOCK_BYTES);
  const isDir = entry.name.endsWith('/');
  const mode = isDir || entry.name.startsWith('./sbin/') ? 0o755 : 0o644;

  block.write(entry.name, 0, 100, 'utf8');
  block.write(octal(mode, 7), 100);
  block.write(octal(0, 7), 108);
  block.write(octal(0, 7), 116);
  block.write(octal(size, 11), 124);
  block.write(octal(MTIME_SECONDS, 11), 136);
  block.write(isDir ? '5' : '0', 156);
  block.write('ustar\u000000', 257, 'latin1');
  block.write('root', 265);
  block.write('root', 297);

  // The checksum is the byte sum with its own field counted as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) {
    sum += byte;
  }
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return block;
}

/** A zero-padded octal field of `digits` digits followed by NUL. */
function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, '0')}\u0000`;
}
