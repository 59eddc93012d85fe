/**
 * The terminal adapter outside the demo: `/as` is refused (anyone at the terminal could become
 * an admin with it), identities given to `/as` in the demo are checked, buttons are not
 * printed, and `crewvz bot` with the terminal adapter keeps its JSON logs out of the chat.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { stringify } from 'yaml';

import { ShellAdapter } from '../adapters/shell.ts';
import type { InboundMessage } from '../adapters/types.ts';
import { freePort } from './helpers/bot-rig.ts';
import { killAll, runCli } from './helpers/cli-run.ts';
import { makeTestPki } from './helpers/pki.ts';

const dirs: string[] = [];

after(async () => {
  killAll();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Feeds `lines` to a shell adapter; returns the screen and who each message came from. */
async function session(lines: string[], allowAs?: boolean) {
  const input = new PassThrough();
  let screen = '';
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      screen += chunk.toString();
      done();
    },
  });
  const senders: (string | null)[] = [];
  const shell = new ShellAdapter({
    input,
    output,
    login: 'me',
    ...(allowAs === undefined ? {} : { allowAs }),
  });
  await shell.start(async (message: InboundMessage, respond) => {
    senders.push(message.sender.identity);
    await respond({ lines: ['ok'] });
  });
  input.end(lines.map((line) => `${line}\n`).join(''));
  await shell.done;
  return { screen, senders };
}

describe('shell adapter', () => {
  test('/as is refused unless the demo turned it on', async () => {
    const { screen, senders } = await session(['/as shell:root', '!whoami']);
    assert.match(screen, /\/as is only available in the demo \(npm start\); here you are shell:me/);
    assert.deepEqual(senders, ['shell:me']);
  });

  test('in the demo, /as takes adapter:id or a login and refuses malformed ones', async () => {
    const bad = ['/as', '/as shell:bob smith', '/as shell:\x01x', '/as :x', '/as shell:'];
    const good = ['/as irc:alice', '!a', '/as bob', '!b', '/as -', '!c'];
    const { screen, senders } = await session([...bad, '!whoami', ...good], true);
    assert.equal(screen.match(/usage: \/as IDENTITY/g)?.length, bad.length, screen);
    assert.deepEqual(senders, ['shell:me', 'irc:alice', 'shell:bob', null]);
  });

  test('a handler that throws is logged and the session goes on', async () => {
    const input = new PassThrough();
    let screen = '';
    const output = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        screen += chunk.toString();
        done();
      },
    });
    const logged: string[] = [];
    const logger = pino(
      { level: 'error' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logged.push(JSON.parse(chunk.toString()).err?.message);
          done();
        },
      }),
    );
    const shell = new ShellAdapter({ input, output, login: 'me', logger });
    await shell.start(async (message, respond) => {
      if (message.text === '!break') {
        throw new Error('audit database locked');
      }
      await respond({ lines: [`handled ${message.text}`] });
    });
    input.end('!break\n!next\n');
    await shell.done;

    assert.deepEqual(logged, ['audit database locked']);
    assert.match(screen, /could not be handled; the log says why\nhandled !next\n/);
    assert.doesNotMatch(screen, /database locked/);
  });

  test('reply buttons are not printed; the text already names the commands', async () => {
    let screen = '';
    const output = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        screen += chunk.toString();
        done();
      },
    });
    const quiet = new ShellAdapter({ input: new PassThrough(), output, login: 'me' });
    const actions = [{ label: 'Approve', command: '!approve 1' }];
    await quiet.send({ kind: 'alerts' }, { lines: ['new request #1: !approve 1'], actions });
    assert.equal(screen, '[alerts] new request #1: !approve 1\n');
  });
});

describe('crewvz bot with the terminal adapter', () => {
  test('no /as; logs go to a file next to the database, named once on stderr, as are ' +
    'config warnings', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-bot-shell-'));
    dirs.push(dir);
    const pki = await makeTestPki();
    const configFile = path.join(dir, 'bot.yaml');
    await writeFile(
      configFile,
      stringify({
        database: 'data/crewvz.db',
        pki: pki.dir,
        nodes: [{ name: 'node1', address: `127.0.0.1:${await freePort()}` }],
        roles: { admins: ['shell:alice'] },
        adapters: { shell: { login: 'alice' } },
        alerts: { enabled: false },
        quota: { activeVes: 2 },
      }),
    );
    const { status, stdout, stderr } = await runCli(['bot', '--config', configFile], {
      cwd: dir,
      input: '/as shell:root\n!whoami\n!ve list\n',
    });

    assert.equal(status, 0, stderr);
    assert.match(stdout, /\/as is only available in the demo/);
    assert.match(stdout, /you are shell:alice, role admin \(from the config\)/);
    assert.doesNotMatch(stdout, /"level":/, 'no JSON log lines in the chat');
    const logFile = path.join(dir, 'data', 'crewvz.log');
    assert.equal(stderr.split(`logging to ${logFile}`).length, 2, stderr);
    // A typo in the config is said at the terminal too, not only in the log file.
    assert.match(stderr, /bot\.yaml: unknown config key quota/);
    assert.ok(existsSync(logFile));
    assert.match(await readFile(logFile, 'utf8'), /"msg":"adapter started"/);
  });
});
