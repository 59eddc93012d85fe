/**
 * Runs `crewvz ...` (src/cli.ts under tsx) as a child process with piped input, and never
 * lets it outlive the test: a run past its deadline is killed (and the test fails with what
 * it printed), and killAll() in an after hook ends any run a failed test left behind. The
 * child leads its own process group, so the kill also reaches an agent the demo started.
 *
 *   const run = await runCli(['demo'], { cwd, input: '!whoami\n' }); // { status, stdout, stderr }
 *   after(() => killAll());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Generous for a loaded 2-core CI machine; a healthy demo run takes a few seconds. */
const RUN_MS = 60_000;

const running = new Set<ChildProcess>();

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  options: { cwd: string; input: string; timeoutMs?: number },
): Promise<CliRun> {
  const timeoutMs = options.timeoutMs ?? RUN_MS;
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(options.input);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);

  // 'close', not 'exit': all output is in, and no grandchild still holds the pipes.
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
    (resolve) => child.once('close', (code, sig) => resolve([code, sig])),
  );
  clearTimeout(timer);
  running.delete(child);
  if (timedOut) {
    throw new Error(`crewvz ${args.join(' ')} did not finish within ${timeoutMs} ms; ` +
      `stdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { status, signal, stdout, stderr };
}

/** Kills every run still going; for after hooks. */
export function killAll(): void {
  for (const child of running) killGroup(child);
  running.clear();
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}
