/** `crewvz demo` as `npm start` runs it, in a fresh folder, with commands piped in. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';

import { demoLogin } from '../src/demo.ts';
import { freePort } from './helpers/bot-rig.ts';
import { killAll, runCli } from './helpers/cli-run.ts';
import { makeTestPki } from './helpers/pki.ts';

const dirs: string[] = [];

after(async () => {
  killAll();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function freshFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-demo-'));
  dirs.push(dir);
  return dir;
}

const FIRST_RUN = '!ve create\n!approve 1\n!ve list\n!ve ubc 101\n/as shell:bob\n!approve 1\n';

test('piped demo prints a request number, an active VE and its beancounter table', async () => {
  const cwd = await freshFolder();
  const { status, stdout, stderr } = await runCli(['demo'], { cwd, input: FIRST_RUN });
  assert.equal(status, 0, `exit status; stderr: ${stderr}`);

  assert.match(stdout, /crewvz demo: you are shell:\S+, an admin/);
  assert.doesNotMatch(stdout, /\[Approve: /, 'no button line in a terminal');
  assert.match(stdout, /request #1 filed/);
  assert.match(stdout, /VE 101 is active on node1/);
  assert.match(stdout, /VE 101\s+node1\s+shell:\S+\s+\S+\s+\S+\s+running/);
  assert.match(stdout, /resource\s+held\s+maxheld\s+barrier\s+limit\s+failcnt/);
  assert.match(stdout, /numproc\s+\d+/);
  assert.match(
    stdout,
    /you are now shell:bob\nthe command !approve needs the crew role and you are student/,
  );

  assert.ok(existsSync(path.join(cwd, '.crewvz', 'crewvz.db')), 'the SQLite file');
  assert.ok(existsSync(path.join(cwd, '.crewvz', 'pki', 'ca.crt')), 'the PKI');
  assert.ok(existsSync(path.join(cwd, '.crewvz', 'crewvz.log')), 'the log file');
  assert.doesNotMatch(stdout, /"level":/, 'logs stay out of the terminal');

  const log = await readFile(path.join(cwd, '.crewvz', 'crewvz.log'), 'utf8');
  assert.doesNotMatch(log, /handshake/i, 'readiness is an mTLS ping, not a bare TCP probe');
  const botLines = log.split('\n').filter((line) => line.includes('"app":"crewvz"'));
  for (const line of botLines) {
    const keys = [...line.matchAll(/"(\w+)":/g)].map((match) => match[1]);
    assert.equal(new Set(keys).size, keys.length, `a key written twice: ${line}`);
  }
});

test('a second run suggests what fits the data folder, and !whoami names the demo', async () => {
  // Its own folder, made by a first run, so that this test does not lean on the one above.
  const cwd = await freshFolder();
  const first = await runCli(['demo'], { cwd, input: FIRST_RUN });
  assert.equal(first.status, 0, `first run; stderr: ${first.stderr}`);

  const { status, stdout, stderr } = await runCli(['demo'], { cwd, input: '!whoami\n' });
  assert.equal(status, 0, `second run; stderr: ${stderr}`);
  assert.match(stdout, /^ {2}!approve 2 /m, 'request #1 is done; the next one is #2');
  assert.match(stdout, /^ {2}!ve ubc 101 /m, 'VE 101 exists');
  assert.match(stdout, /role admin \(the demo makes you admin\)/);
  assert.doesNotMatch(stdout, /from the config/);
});

/** The commands the welcome suggests: the indented lines after `Try:`. */
function tries(stdout: string): string[] {
  const after = stdout.split('\n');
  const start = after.indexOf('Try:') + 1;
  assert.ok(start > 0, `no 'Try:' in: ${stdout}`);
  const end = after.findIndex((line, index) => index >= start && !/^ {2}!/.test(line));
  return after.slice(start, end).map((line) => line.trim().split(/\s{2,}/)[0] ?? '');
}

test('the welcome suggests three commands, with a request pending too', async () => {
  const cwd = await freshFolder();
  const first = await runCli(['demo'], { cwd, input: '!ve create\n' });
  assert.equal(first.status, 0, `first run; stderr: ${first.stderr}`);
  assert.deepEqual(tries(first.stdout), ['!ve create', '!approve 1', '!ve ubc 101']);

  // Request #1 is still pending: the welcome suggests a look at it rather than another one.
  const second = await runCli(['demo'], { cwd, input: '' });
  assert.equal(second.status, 0, `second run; stderr: ${second.stderr}`);
  assert.deepEqual(tries(second.stdout), ['!requests', '!approve 1', '!ve ubc 101']);
});

test("the README's quick start is exactly the two commands, first and together", async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const section = /^## Quick start\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const blocks = [...section.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)].map((m) => m[1]?.trim());
  assert.deepEqual(blocks, ['npm install && npm start', 'npm test']);
  assert.match(section, /^\s*```sh\nnpm install && npm start\n```\s*```sh\nnpm test\n```/);
});

test('a login that cannot be a VE login makes you shell:demo', () => {
  assert.deepEqual(demoLogin('alice', 1000), { login: 'alice', note: null });
  assert.equal(demoLogin('root', 0).login, 'demo');
  assert.equal(demoLogin('www', 1000).login, 'demo', 'a reserved name');
  assert.equal(demoLogin('9lives', 1000).login, 'demo', 'not a DNS label');
  assert.match(demoLogin('www', 1000).note ?? '', /your login www cannot be a VE login/);
});

test('npm start -- --config FILE runs the bot from that file, not the demo', async () => {
  const cwd = await freshFolder();
  const pki = await makeTestPki();
  const configFile = path.join(cwd, 'bot.yaml');
  await writeFile(configFile, stringify({
    database: 'crewvz.db',
    pki: pki.dir,
    nodes: [{ name: 'node1', address: `127.0.0.1:${await freePort()}` }],
    roles: { admins: ['shell:alice'] },
    adapters: { shell: { login: 'alice' } },
    alerts: { enabled: false },
  }));

  // `npm start` is `cli.ts demo`, so `npm start -- --config FILE` arrives as these arguments.
  const { status, stdout, stderr } = await runCli(['demo', '--config', configFile], {
    cwd,
    input: '!whoami\n',
  });
  assert.equal(status, 0, stderr);
  assert.match(stdout, /you are shell:alice, role admin \(from the config\)/);
  assert.doesNotMatch(stdout, /crewvz demo:/, 'no demo welcome');
  assert.ok(existsSync(path.join(cwd, 'crewvz.db')), 'the database the config names');
  assert.ok(!existsSync(path.join(cwd, '.crewvz')), 'no demo data folder');
});

test('the demo refuses an argument it does not know and points to --config', async () => {
  const cwd = await freshFolder();
  const { status, stdout, stderr } = await runCli(['demo', 'bot.yaml'], { cwd, input: '' });
  assert.equal(status, 2);
  assert.match(stderr, /unknown argument 'bot\.yaml'.*\n.*npm start -- --config bot\.yaml/);
  assert.equal(stdout, '');
  assert.ok(!existsSync(path.join(cwd, '.crewvz')), 'nothing started');
});
