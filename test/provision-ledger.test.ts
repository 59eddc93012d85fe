/**
 * The address ledger over the real vzctl driver and the fake vzlist: every address of every VE
 * counts, a stopped VE's second address and a VZ7 VE named by UUID included, while the numeric
 * VE API (list, status) still shows neither.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { vzlistAddresses } from '../agent/vzlist.ts';
import { FAKE_VZ, TEMPLATE, makeFakeVzNode, type FakeVzNode } from './helpers/fake-vz-node.ts';

const run = promisify(execFile);
const UUID = '3f2a6c1e-8b4d-4e7a-9c15-0d2b7e6f4a91';

const nodes: FakeVzNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

/** Runs the fake vzctl as an admin would on the node. */
async function adminVzctl(node: FakeVzNode, args: string[]): Promise<void> {
  await run(path.join(FAKE_VZ, 'vzctl'), args, { env: { ...process.env, ...node.env } });
}

describe('the address ledger sees every address vzlist lists', () => {
  it('skips the second address of a stopped VE and the address of a UUID VE', async () => {
    const node = await makeFakeVzNode({ pool: '10.0.5.1-10.0.5.9' });
    nodes.push(node);

    // A VE made by hand, never started, with two addresses: the fake saves IP_ADDRESS as
    // "10.0.5.4 10.0.5.1", as vzctl does for --ipadd given twice.
    await adminVzctl(node, ['create', '150', '--ostemplate', TEMPLATE, '--ipadd', '10.0.5.4']);
    await adminVzctl(node, ['set', '150', '--ipadd', '10.0.5.1', '--save']);
    // A VZ7 VE named by UUID, written as the fake stores a VE config.
    const uuidConf = [`OSTEMPLATE="${TEMPLATE}"`, 'IP_ADDRESS="10.0.5.2"', 'HOSTNAME="vz7"'];
    await writeFile(path.join(node.fakeDir, `conf/${UUID}.conf`), `${uuidConf.join('\n')}\n`);

    const listed = await node.driver.list();
    assert.deepEqual(
      listed.map((ve) => [ve.id, ve.state, ve.address]),
      [[150, 'stopped', '10.0.5.4']],
      'the VE API keeps numeric IDs and the first address',
    );

    const first = await node.provisioner.create(101, TEMPLATE, 'alice');
    assert.equal(first.address, '10.0.5.3');
    const second = await node.provisioner.create(102, TEMPLATE, 'bob');
    assert.equal(second.address, '10.0.5.5');
  });
});

describe('vzlistAddresses', () => {
  it('reads every ip of every entry, UUID ctids and prefixes included', () => {
    const text = JSON.stringify([
      { ctid: 101, ip: ['10.0.5.2', '10.0.5.7/24'] },
      { ctid: UUID, ip: ['10.0.5.3'] },
      { ctid: 102, ip: [] },
      { ctid: 103 },
    ]);
    assert.deepEqual(vzlistAddresses(text), ['10.0.5.2', '10.0.5.7', '10.0.5.3']);
    assert.throws(() => vzlistAddresses('{"ctid": 1'), /not JSON/);
  });
});
