/**
 * Stopping the demo: Ctrl-C right after a command, in a real terminal (a pty made by util-linux
 * `script`), must end the process; SIGTERM ends a piped demo; a second signal during the clean
 * stop exits at once.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { FORCED_EXIT_STATUS, StopSignals } from '../src/shutdown.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const dirs: string[] = [];
const children: ChildProcess[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-demo-signals-'));
  dirs.push(dir);
  return dir;
}

/** Collects a child's output and resolves `waitFor` once a pattern shows up in it. */
function watch(child: ChildProcess) {
  let output = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const take = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of waiters.filter((w) => w.pattern.test(output))) {
      waiter.resolve();
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return {
    get output() {
      return output;
    },
    async waitFor(pattern: RegExp, ms = 20_000): Promise<void> {
      if (pattern.test(output)) {
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${pattern} within ${ms} ms in: ${output}`)),
          ms,
        );
        waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

/** Resolves with the exit status, or null (after killing it) if it outlives `ms`. */
async function exitWithin(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) {
    return child.exitCode;
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

describe('stopping the demo', () => {
  const noScript = !HAS_SCRIPT && 'util-linux script is not installed';

  test('Ctrl-C typed with the Enter of a command ends it', { skip: noScript }, async () => {
    const cwd = await scratch();
    const command = [process.execPath, '--import', TSX, CLI, 'demo'].map(quote).join(' ');
    // `script` is the one way to give the demo a real terminal without a native pty module; it
    // runs its command through SHELL, which is pinned to sh and fed only quoted fixed paths.
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd,
      env: { ...process.env, SHELL: '/bin/sh', TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    const screen = watch(child);
    await screen.waitFor(/shell:\S+> /);
    child.stdin?.write('!ve create\r');
    await screen.waitFor(/request #1 filed/);
    child.stdin?.write('!approve 1\r\x03');

    const status = await exitWithin(child, 15_000);
    assert.equal(status, 0, `the demo must exit by itself; screen:\n${screen.output}`);
  });

  test('SIGTERM ends a demo waiting on piped input', async () => {
    const cwd = await scratch();
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'demo'], {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    const out = watch(child);
    child.stdin?.write('!ve create\n');
    await out.waitFor(/request #1 filed/);
    child.kill('SIGTERM');
    assert.equal(await exitWithin(child, 10_000), 0, out.output);
  });

  test('a second signal during the clean stop exits at once', async () => {
    const exits: number[] = [];
    const said: string[] = [];
    const signals = new StopSignals({ say: (text) => said.push(text), exit: (s) => exits.push(s) });
    const waiting = signals.wait(new Promise(() => {}));
    // Signals arrive asynchronously; this keeps the loop alive until they do.
    const keepAlive = setInterval(() => {}, 1000);

    process.kill(process.pid, 'SIGINT');
    await waiting;
    assert.deepEqual(exits, [], 'the first signal only starts the clean stop');

    process.kill(process.pid, 'SIGINT');
    for (let waited = 0; exits.length === 0 && waited < 10_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(exits, [FORCED_EXIT_STATUS]);
    assert.match(said.join(''), /again/);
    clearInterval(keepAlive);
    signals.release(0);
    assert.equal(process.listenerCount('SIGINT'), 0, 'no handler is left behind');
  });
});
