/**
 * Rollback with the real provisioning code over the vzctl driver and the fake vzctl: a failure
 * injected at each vzctl step (FAKE_VZ_FAIL), and one inside the host-account step after useradd
 * succeeded, leaves nothing: no VE in the fake's state, no record, the map file byte for byte
 * as it was (or still absent), the passwd files unchanged, no keys and no login shell.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { findHostAccount } from '../agent/provision/host-account.ts';
import { StepFailedError } from '../agent/provision/steps.ts';
import {
  KEYS_DIR,
  MAP,
  SHELLS_DIR,
  STATE_DIR,
  TEMPLATE,
  makeFakeVzNode,
  type FakeVzNode,
} from './helpers/fake-vz-node.ts';
import { snapshotFiles } from './helpers/scratch-root.ts';

const MAP_TEXT = '# crewvz vhosts\nstaff 10.9.9.9';
const HOST_FILES = ['etc/passwd', 'etc/shadow', 'etc/group', 'etc/gshadow'];

const nodes: FakeVzNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

/** The files of a directory under root; none when it does not exist. */
async function filesIn(root: string, directory: string): Promise<string[]> {
  try {
    return await readdir(path.join(root, directory));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return null;
    }
    throw error;
  }
}

/** Everything under root but the fake's own state, which is checked on its own. */
async function hostSnapshot(root: string): Promise<Map<string, string>> {
  const files = await snapshotFiles(root);
  for (const file of [...files.keys()].filter((name) => name.startsWith('vz/'))) {
    files.delete(file);
  }
  return files;
}

async function assertNothingLeft(
  node: FakeVzNode,
  before: Map<string, string>,
  map: string | null,
): Promise<void> {
  const { root, fakeDir } = node;

  assert.deepEqual(await node.driver.list(), [], 'vzlist lists no VE');
  assert.equal(await readOrNull(path.join(fakeDir, 'conf/101.conf')), null, 'no VE config');
  assert.deepEqual(await filesIn(fakeDir, 'private'), [], 'no private area');
  assert.deepEqual(await filesIn(fakeDir, 'running'), [], 'nothing running');
  assert.deepEqual(await node.provisioner.records.list(), [], 'no record');
  assert.deepEqual(await filesIn(root, `${STATE_DIR}/provisioned`), [], 'no record file');
  assert.equal(await readOrNull(path.join(root, MAP)), map, 'map bytes as before');
  assert.deepEqual(await filesIn(root, KEYS_DIR), [], 'no keys');
  assert.deepEqual(await filesIn(root, SHELLS_DIR), [], 'no login shell');
  assert.equal(await findHostAccount(root, 'alice'), null, 'no host account');

  const after = await hostSnapshot(root);
  for (const file of HOST_FILES) {
    assert.equal(after.get(file), before.get(file), `${file} unchanged`);
  }
  assert.deepEqual(after, before, 'no other file under root changed');
}

/** Each vzctl step, the failure the fake injects there, and the step the provisioner names. */
const VZCTL_FAILURES = [
  { action: 'create', code: 48, step: 'vzctl create' },
  { action: 'set', code: 21, step: 'vzctl create' },
  { action: 'mount', code: 3, step: 'VE user' },
  { action: 'start', code: 47, step: 'vzctl start' },
];

describe('rollback over the fake vzctl', () => {
  for (const { action, code, step } of VZCTL_FAILURES) {
    for (const map of [MAP_TEXT, null]) {
      const which = map === null ? 'no map file yet' : 'an existing map';
      it(`leaves nothing when vzctl ${action} fails (${which})`, async () => {
        const node = await makeFakeVzNode({ env: { FAKE_VZ_FAIL: `${action}:${code}` } });
        nodes.push(node);
        if (map !== null) {
          await mkdir(path.dirname(path.join(node.root, MAP)), { recursive: true });
          await writeFile(path.join(node.root, MAP), map);
        }
        const before = await hostSnapshot(node.root);

        const error = await node.provisioner
          .create(101, TEMPLATE, 'alice')
          .catch((caught: unknown) => caught);

        assert.ok(error instanceof StepFailedError, String(error));
        assert.equal(error.step, step);
        assert.equal(error.code, code, 'vzctl status passed on');
        assert.deepEqual(error.undoFailures, []);
        await assertNothingLeft(node, before, map);
      });
    }
  }

  it('takes the host account back when handing it the keys fails after useradd', async () => {
    // A useradd that works, after which something takes the known_hosts name (as a planted
    // file would), so giving the account its key files fails inside the host-account step.
    const tools = await mkdtemp(path.join(os.tmpdir(), 'crewvz-tools-'));
    const useradd = path.join(tools, 'useradd');
    const script = [
      '#!/bin/sh',
      '/usr/sbin/useradd "$@" || exit $?',
      `: > "$2/${KEYS_DIR}/alice.known_hosts"`,
      '',
    ].join('\n');
    await writeFile(useradd, script, { mode: 0o755 });
    const node = await makeFakeVzNode({ tools: { useradd } });
    nodes.push(node);
    const before = await hostSnapshot(node.root);

    const error = await node.provisioner
      .create(101, TEMPLATE, 'alice')
      .catch((caught: unknown) => caught);
    await rm(tools, { recursive: true, force: true });

    assert.ok(error instanceof StepFailedError, String(error));
    assert.equal(error.step, 'host account');
    assert.match(error.reason, /EEXIST/);
    assert.deepEqual(error.undoFailures, []);
    await assertNothingLeft(node, before, null);
  });
});
