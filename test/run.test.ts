import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DriverError } from '../agent/driver.ts';
import { AgentCode } from '../agent/protocol.ts';
import { outputLines, run } from '../agent/run.ts';

const NODE = process.execPath;
const QUICK = { timeoutMs: 10_000 };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

describe('run', () => {
  it('captures stdout, stderr and the exit status', async () => {
    const script = 'process.stdout.write("out\\n"); console.error("bad thing"); process.exit(32)';
    const result = await run(NODE, ['-e', script], QUICK);
    assert.deepEqual(result, { code: 32, stdout: 'out\n', stderr: 'bad thing\n' });
  });

  it('passes arguments as they are, with no shell in between', async () => {
    const hostile = ['$(touch /tmp/crewvz-pwned)', '; rm -rf /', '`id`', "a'b\"c", '*'];
    const script = 'process.stdout.write(JSON.stringify(process.argv.slice(1)))';
    const result = await run(NODE, ['-e', script, ...hostile], QUICK);
    assert.deepEqual(JSON.parse(result.stdout), hostile);
  });

  it('gives the program a clean environment plus what the caller adds', async () => {
    process.env.CREWVZ_RUN_TEST_SECRET = 'do-not-leak';
    try {
      const script = 'process.stdout.write(JSON.stringify(process.env))';
      const result = await run(NODE, ['-e', script], { ...QUICK, env: { FAKE_VZ_DIR: '/x' } });
      const env = JSON.parse(result.stdout) as Record<string, string>;
      assert.equal(env.CREWVZ_RUN_TEST_SECRET, undefined);
      assert.equal(env.LANG, 'C');
      assert.equal(env.FAKE_VZ_DIR, '/x');
      assert.match(env.PATH, /\/usr\/bin/);
    } finally {
      delete process.env.CREWVZ_RUN_TEST_SECRET;
    }
  });

  it('kills a program and its children when it runs out of time', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-run-'));
    const pidFile = path.join(dir, 'grandchild.pid');
    // The child starts a grandchild in its process group, notes its pid, and hangs.
    const script = [
      'const { spawn } = require("node:child_process");',
      'const hang = ["-e", "setInterval(() => {}, 1000)"];',
      'const g = spawn(process.execPath, hang, { stdio: "ignore" });',
      `require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));`,
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const started = Date.now();

    try {
      await assert.rejects(
        run(NODE, ['-e', script], { timeoutMs: 500, killGraceMs: 200 }),
        (error: unknown) => {
          assert.ok(error instanceof DriverError);
          assert.equal(error.code, AgentCode.TIMEOUT);
          assert.match(error.lines[0], /^node -e did not finish within 1 s and was killed$/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 3000, 'the timeout took too long');
      const pid = Number(await readFile(pidFile, 'utf8'));
      assert.ok(pid > 0);
      assert.ok(await waitFor(() => !alive(pid), 2000), 'the grandchild survived');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('follows SIGTERM with SIGKILL for a program that ignores it', async () => {
    const script = 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)';
    const started = Date.now();
    await assert.rejects(
      run(NODE, ['-e', script], { timeoutMs: 300, killGraceMs: 300 }),
      (error: unknown) => error instanceof DriverError && error.code === AgentCode.TIMEOUT,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 550, `rejected before the grace period was over (${elapsed} ms)`);
    assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  });

  it('reports a program killed by a signal as 128 + the signal number', async () => {
    const result = await run(NODE, ['-e', 'process.kill(process.pid, "SIGKILL")'], QUICK);
    assert.equal(result.code, 137);
  });

  it('keeps at most the output limit and says it dropped the rest', async () => {
    const script = 'process.stdout.write("x".repeat(200000))';
    const result = await run(NODE, ['-e', script], { ...QUICK, maxOutputBytes: 1000 });
    assert.equal(result.code, 0);
    assert.ok(result.stdout.startsWith('x'.repeat(1000)));
    assert.match(result.stdout, /\n\[output truncated after 1000 bytes\]$/);
    assert.ok(result.stdout.length < 1100);
  });

  it('refuses a program that does not exist with an internal error', async () => {
    await assert.rejects(
      run('/nonexistent/vzctl', ['start', '101'], QUICK),
      (error: unknown) =>
        error instanceof DriverError &&
        error.code === AgentCode.INTERNAL &&
        /cannot run \/nonexistent\/vzctl/.test(error.lines[0]),
    );
  });

  it('splits output into non-empty lines', () => {
    assert.deepEqual(outputLines('a\n\nb  \r\n'), ['a', 'b']);
  });
});
