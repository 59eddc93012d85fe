import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';

import { parseIndex, syncTemplates } from '../agent/provision/template-sync.ts';
import { makeTestPki, type TestPki } from './helpers/pki.ts';

const quiet = pino({ level: 'silent' });
const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** What the test server serves: body per file, and files it cuts off mid-body. */
interface Served {
  index: unknown;
  files: Map<string, Buffer>;
  dropAfter: Map<string, number>;
}

const served: Served = { index: [], files: new Map(), dropAfter: new Map() };

function entry(name: string, content: Buffer, overrides: object = {}) {
  return { name, size: content.length, sha256: sha(content), ...overrides };
}

let pki: TestPki;
let server: Server;
let baseUrl: string;
let cacheDir: string;
const temps: string[] = [];

before(async () => {
  pki = await makeTestPki();
  server = createServer({ cert: pki.node1.cert, key: pki.node1.key }, (request, response) => {
    const name = decodeURIComponent((request.url ?? '').replace(/^\/templates\//, ''));
    if (name === 'index.json') {
      response.end(JSON.stringify(served.index));
      return;
    }
    const body = served.files.get(name);
    if (body === undefined) {
      response.statusCode = 404;
      response.end();
      return;
    }

    // A dropped connection: the header promises the whole body, the socket dies halfway.
    const drop = served.dropAfter.get(name);
    response.setHeader('content-length', body.length);
    if (drop !== undefined) {
      response.write(body.subarray(0, drop), () => response.destroy());
      return;
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/templates`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

beforeEach(async () => {
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-cache-'));
  temps.push(cacheDir);
  served.files.clear();
  served.dropAfter.clear();
});

const sync = (source = baseUrl, ca: string | null = pki.ca) =>
  syncTemplates({ source, cacheDir, ca, logger: quiet });

describe('template sync over HTTPS', () => {
  const good = Buffer.from('a good template tarball '.repeat(5000));

  it('downloads a good template into the cache, then finds it unchanged', async () => {
    served.files.set('debian-12.tar.gz', good);
    served.index = [entry('debian-12.tar.gz', good)];

    assert.deepEqual(await sync(), {
      added: ['debian-12.tar.gz'],
      updated: [],
      unchanged: [],
      failed: [],
    });
    assert.deepEqual(await readFile(path.join(cacheDir, 'debian-12.tar.gz')), good);
    assert.deepEqual((await sync()).unchanged, ['debian-12.tar.gz']);
  });

  it('replaces a cached template whose checksum changed', async () => {
    await writeFile(path.join(cacheDir, 'debian-12.tar.gz'), 'the old build');
    served.files.set('debian-12.tar.gz', good);
    served.index = [entry('debian-12.tar.gz', good)];

    assert.deepEqual((await sync()).updated, ['debian-12.tar.gz']);
    assert.deepEqual(await readFile(path.join(cacheDir, 'debian-12.tar.gz')), good);
  });

  it('reports a truncated file by name and keeps the good cached copy', async () => {
    await writeFile(path.join(cacheDir, 'short.tar.gz'), 'previous good copy');
    served.files.set('short.tar.gz', good.subarray(0, 1000));
    served.files.set('fine.tar.xz', good);
    served.index = [entry('short.tar.gz', good), entry('fine.tar.xz', good)];

    const result = await sync();
    assert.deepEqual(result.added, ['fine.tar.xz']);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]?.name, 'short.tar.gz');
    assert.match(result.failed[0]?.reason ?? '', /truncated: got 1000 of 120000 bytes/);
    const kept = await readFile(path.join(cacheDir, 'short.tar.gz'), 'utf8');
    assert.equal(kept, 'previous good copy');
    assert.deepEqual((await readdir(cacheDir)).sort(), ['fine.tar.xz', 'short.tar.gz']);
  });

  it('reports a connection dropped mid-download and leaves no partial file', async () => {
    served.files.set('cut.tar.gz', good);
    served.dropAfter.set('cut.tar.gz', 4096);
    served.index = [entry('cut.tar.gz', good)];

    const result = await sync();
    assert.equal(result.failed[0]?.name, 'cut.tar.gz');
    assert.match(result.failed[0]?.reason ?? '', /aborted|ECONNRESET|socket hang up|truncated/);
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it('reports a wrong checksum by name and keeps the good cached copy', async () => {
    await writeFile(path.join(cacheDir, 'debian-12.tar.gz'), 'previous good copy');
    served.files.set('debian-12.tar.gz', good);
    served.index = [entry('debian-12.tar.gz', good, { sha256: sha('something else') })];

    const result = await sync();
    assert.deepEqual(result.failed.map((failure) => failure.name), ['debian-12.tar.gz']);
    assert.match(result.failed[0]?.reason ?? '', /sha256 is [0-9a-f]{64}, index\.json says/);
    const cached = await readFile(path.join(cacheDir, 'debian-12.tar.gz'), 'utf8');
    assert.equal(cached, 'previous good copy');
    assert.deepEqual(await readdir(cacheDir), ['debian-12.tar.gz']);
  });

  it('fsyncs the whole download under its temporary name before renaming it', async (t) => {
    served.files.set('debian-12.tar.gz', good);
    served.index = [entry('debian-12.tar.gz', good)];

    // What the cache holds at each fsync: a synced file with the full size and no cache name yet
    // means the data was on disk before the rename.
    const probe = await open(path.join(cacheDir, '.probe'), 'w');
    const fileHandle = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    await rm(path.join(cacheDir, '.probe'));
    const realSync = fileHandle.sync;
    const seen: Array<Record<string, number>> = [];
    t.mock.method(fileHandle, 'sync', function (this: unknown) {
      const sizes = readdirSync(cacheDir).map((name) => {
        return [name, statSync(path.join(cacheDir, name)).size] as const;
      });
      seen.push(Object.fromEntries(sizes));
      return realSync.call(this);
    });

    assert.deepEqual((await sync()).added, ['debian-12.tar.gz']);
    const beforeRename = seen.find((files) => {
      const names = Object.keys(files);
      return names.length === 1 && /^\.debian-12\.tar\.gz\.[0-9a-f]+\.part$/.test(names[0] ?? '');
    });
    assert.ok(beforeRename, `no fsync of the complete temporary file: ${JSON.stringify(seen)}`);
    assert.deepEqual(Object.values(beforeRename), [good.length]);
  });

  it('refuses a name index.json lists twice, reporting it and keeping the cache', async () => {
    await writeFile(path.join(cacheDir, 'debian-12.tar.gz'), 'previous good copy');
    const other = Buffer.from('another build');
    served.files.set('debian-12.tar.gz', good);
    served.files.set('fine.tar.xz', good);
    served.index = [
      entry('debian-12.tar.gz', good),
      entry('fine.tar.xz', good),
      entry('debian-12.tar.gz', other),
    ];

    const result = await sync();
    assert.deepEqual(result.added, ['fine.tar.xz']);
    assert.deepEqual(result.updated, []);
    assert.deepEqual(result.failed, [
      {
        name: 'debian-12.tar.gz',
        reason: 'index.json lists it 2 times; list each template once',
      },
    ]);
    const cached = await readFile(path.join(cacheDir, 'debian-12.tar.gz'), 'utf8');
    assert.equal(cached, 'previous good copy');
  });

  it('refuses a server whose certificate the configured CA did not sign', async () => {
    served.index = [];
    const untrusted = /self-signed|unable to verify|certificate/i;
    await assert.rejects(sync(baseUrl, pki.foreignCa), untrusted);
  });
});

describe('template sync from a directory', () => {
  it('copies every tarball in it and ignores other files', async () => {
    const source = await mkdtemp(path.join(os.tmpdir(), 'crewvz-source-'));
    temps.push(source);
    await writeFile(path.join(source, 'alpine.tar.xz'), 'alpine');
    await writeFile(path.join(source, 'README'), 'not a template');

    const result = await sync(source, null);
    assert.deepEqual(result.added, ['alpine.tar.xz']);
    assert.deepEqual(await readdir(cacheDir), ['alpine.tar.xz']);
  });
});

describe('index.json', () => {
  it('refuses entries that could name a path outside the cache', () => {
    const hash = sha('x');
    for (const name of ['../evil.tar.gz', '.hidden.tar.gz', 'a/b.tar.gz', 'notes.txt']) {
      assert.throws(() => parseIndex(JSON.stringify([{ name, size: 1, sha256: hash }]), 'i'));
    }
    assert.throws(() => parseIndex('[{"name":"a.tar","size":-1,"sha256":"x"}]', 'i'));
    assert.throws(() => parseIndex('{}', 'i'), /must be a list/);
  });
});
