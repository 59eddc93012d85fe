/**
 * The RewriteMap file across add and remove: its owner, group, mode and final newline survive
 * the atomic rewrite, and a map file that the agent itself created goes away again with its
 * last line, while one the admin made stays.
 */
import assert from 'node:assert/strict';
import { chown, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';

import { CreatedMaps } from '../agent/provision/created-maps.ts';
import { addMapEntry, removeMapEntry } from '../agent/provision/rewrite-map.ts';

/** Debian's www-data: Apache's children read the map as this group. */
const WWW_DATA_GID = 33;

let dir: string;
let map: string;
let created: CreatedMaps;
const dirs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-map-'));
  dirs.push(dir);
  map = path.join(dir, 'crewvz-vhosts.map');
  created = new CreatedMaps(path.join(dir, 'state'));
});

after(async () => {
  await Promise.all(dirs.map((entry) => rm(entry, { recursive: true, force: true })));
});

async function ownership(file: string) {
  const info = await stat(file);
  return { uid: info.uid, gid: info.gid, mode: info.mode & 0o7777 };
}

describe('rewriting the map keeps the file as the admin set it up', () => {
  it('keeps its owner, group and mode', async () => {
    await writeFile(map, '# vhosts\n', { mode: 0o640 });
    await chown(map, 0, WWW_DATA_GID);

    await addMapEntry(map, 'alice', '10.0.5.2', created);
    assert.deepEqual(await ownership(map), { uid: 0, gid: WWW_DATA_GID, mode: 0o640 });
    assert.equal(await readFile(map, 'utf8'), '# vhosts\nalice 10.0.5.2\n');

    await removeMapEntry(map, 'alice', '10.0.5.2', created);
    assert.deepEqual(await ownership(map), { uid: 0, gid: WWW_DATA_GID, mode: 0o640 });
  });

  it('keeps a missing final newline: add then remove gives the same bytes', async () => {
    const original = '# vhosts\nstaff 10.9.9.9';
    await writeFile(map, original);

    await addMapEntry(map, 'alice', '10.0.5.2', created);
    assert.equal(await readFile(map, 'utf8'), `${original}\nalice 10.0.5.2`);
    await removeMapEntry(map, 'alice', '10.0.5.2', created);
    assert.equal(await readFile(map, 'utf8'), original);
  });
});

describe('a map file the agent created', () => {
  it('is deleted when its last line is removed, and the ledger with it', async () => {
    await addMapEntry(map, 'alice', '10.0.5.2', created);
    assert.equal(await readFile(map, 'utf8'), 'alice 10.0.5.2\n');
    assert.equal(await created.has(map), true);

    await removeMapEntry(map, 'alice', '10.0.5.2', created);
    assert.deepEqual(await readdir(dir), ['state']);
    assert.deepEqual(await readdir(path.join(dir, 'state')), []);
  });

  it('stays while another line is in it, whichever create made it', async () => {
    await addMapEntry(map, 'alice', '10.0.5.2', created);
    await addMapEntry(map, 'bob', '10.0.5.3', created);

    await removeMapEntry(map, 'alice', '10.0.5.2', created);
    assert.equal(await readFile(map, 'utf8'), 'bob 10.0.5.3\n');
    await removeMapEntry(map, 'bob', '10.0.5.3', created);
    assert.deepEqual(await readdir(dir), ['state']);
  });

  it('stays when the admin made it, even empty', async () => {
    await writeFile(map, '');
    await addMapEntry(map, 'alice', '10.0.5.2', created);
    await removeMapEntry(map, 'alice', '10.0.5.2', created);

    assert.equal(await readFile(map, 'utf8'), '');
    assert.equal(await created.has(map), false);
  });
});
