/**
 * The bot refuses a database it cannot trust before it does anything: one another bot is
 * using (both would poll, reconcile and alert twice), one that is damaged, one it cannot write
 * (a command would act on a node, then fail to record it). Real SQLite files; the second bot
 * is a real `crewvz bot` child process, so the lock is tested across processes as deployed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

import { Store } from '../src/store/index.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import { runCli } from './helpers/cli-run.ts';

const exec = promisify(execFile);

let agent: AgentChild;
let rig: BotRig;

before(async () => {
  agent = await startAgentChild();
  rig = await startBotRig({ port: agent.port });
});

after(async () => {
  await rig?.stop();
  await agent?.cleanup();
  await rm(rig?.dir ?? '', { recursive: true, force: true });
});

/** A bot config on `database`, for a `crewvz bot` child with the shell adapter. */
async function configFor(database: string): Promise<string> {
  const file = path.join(rig.dir, `bot-${path.basename(database)}.yaml`);
  await writeFile(file, stringify({
    database,
    pki: rig.config.pki,
    logFile: path.join(rig.dir, 'second.log'),
    nodes: rig.config.nodes,
    roles: { admins: ['shell:admin'] },
    adapters: { shell: { login: 'admin' } },
    alerts: { enabled: false },
  }));
  return file;
}

describe('the database a bot starts on', () => {
  test('is refused while another bot uses it, and the first goes on', async () => {
    const second = await runCli(['bot', '--config', await configFor(rig.database)], {
      cwd: rig.dir,
      input: '!whoami\n',
    });

    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr,
      /another crewvz bot is using the database .*crewvz\.db .*stop it first/);
    assert.match((await rig.say('shell:admin', '!whoami'))[0] ?? '', /^you are shell:admin/);
  });

  test('is free again once that bot stops', async () => {
    await rig.stop();
    rig = await startBotRig({ port: agent.port, dir: rig.dir });
    assert.match((await rig.say('shell:admin', '!whoami'))[0] ?? '', /^you are shell:admin/);
  });

  test('is refused when damaged, naming the file and what to do', async () => {
    const database = path.join(rig.dir, 'damaged.db');
    const store = Store.open(database);
    store.transaction(() => {
      for (let n = 0; n < 200; n += 1) {
        store.audit.add({ at: new Date().toISOString(), actor: 'shell:x', action: 'fill',
          target: 'x'.repeat(200), outcome: 'ok', detail: null });
      }
    });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();

    // Scribble over the pages past the first: the header stays, the b-trees do not.
    const { size } = await stat(database);
    const handle = await open(database, 'r+');
    await handle.write(Buffer.alloc(size - 8192, 0xa5), 0, size - 8192, 4096);
    await handle.close();

    assert.throws(() => Store.open(database), (error: Error) =>
      /database .*damaged\.db (is damaged|\()/.test(error.message) &&
      /restore it from a backup|crewvz database/.test(error.message));
  });

  test('is refused when it cannot be written', async (t) => {
    const database = path.join(rig.dir, 'frozen.db');
    Store.open(database).close();
    // Root may write any file mode allows not: only the immutable flag stops it.
    try {
      await exec('chattr', ['+i', database]);
    } catch {
      t.skip('chattr +i is not available on this file system');
      return;
    }
    try {
      assert.throws(() => Store.open(database),
        /cannot use the database .*frozen\.db .*writable/);
    } finally {
      await exec('chattr', ['-i', database]);
    }
  });
});
