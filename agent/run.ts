/**
 * Runs one program for a driver: an argument array (never a shell), a clean environment, output
 * kept to a bounded size, and a timeout that kills the program's whole process group, so a hung
 * vzctl (and anything it started) never holds a VE or the agent forever.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import path from 'node:path';
import { DriverError } from './driver.ts';
import { AgentCode } from './protocol.ts';
import { Semaphore } from './semaphore.ts';

/** vzctl stop waits up to 120 s for a VE to shut down; give it room to report. */
export const STOP_TIMEOUT_MS = 150_000;
/** vzctl start: booting the VE's init, given as long as a stop. */
export const START_TIMEOUT_MS = 150_000;
/** create unpacks a template tarball, which can be slow on a busy disk. */
export const CREATE_TIMEOUT_MS = 600_000;
/** vzlist, vzctl set and other calls that should answer at once. */
export const QUERY_TIMEOUT_MS = 30_000;
/** Time between SIGTERM and SIGKILL for a program that ran out of time. */
export const KILL_GRACE_MS = 5_000;
/** Per stream; vzlist -a -j on a full node stays far below this. */
export const OUTPUT_LIMIT_BYTES = 1024 * 1024;

/**
 * Programs running at once, across every connection and request; the rest wait their turn.
 * Without a bound a flood of requests would fork vzctl until the node runs out of processes.
 */
export const MAX_CONCURRENT_RUNS = 16;
const runSlots = new Semaphore(MAX_CONCURRENT_RUNS);

/** How many programs run now and how many wait for a slot (for tests and diagnostics). */
export function runLoad(): { running: number; waiting: number } {
  return { running: runSlots.inUse, waiting: runSlots.queued };
}

/** The PATH programs get unless the caller names another. */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  timeoutMs: number;
  /** Added to (or replacing) the clean environment of PATH and LANG=C. */
  env?: Readonly<Record<string, string>>;
  killGraceMs?: number;
  maxOutputBytes?: number;
}

export interface RunResult {
  /** The exit status, or 128 + the signal number for a program killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Resolves when the program has exited, whatever its status. Rejects with
 * DriverError(TIMEOUT) once a program that overran its time is dead, and with
 * DriverError(INTERNAL) when it cannot be started at all. Waits for one of the
 * MAX_CONCURRENT_RUNS slots first; the timeout counts from the start of the program.
 */
export function run(
  program: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  return runSlots.run(() => runNow(program, args, options));
}

function runNow(
  program: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const limit = options.maxOutputBytes ?? OUTPUT_LIMIT_BYTES;
  const grace = options.killGraceMs ?? KILL_GRACE_MS;
  const env = { PATH: SAFE_PATH, LANG: 'C', LC_ALL: 'C', ...options.env };
  const name = [path.basename(program), args[0]].filter(Boolean).join(' ');

  return new Promise((resolve, reject) => {
    // detached: the child leads a new process group, so a timeout can kill all of it.
    const child = spawn(program, [...args], {
      env,
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout = new BoundedText(limit);
    const stderr = new BoundedText(limit);
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;

    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) {
          process.kill(-child.pid, signal);
        }
      } catch {
        // The group is already gone.
      }
    };

    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => {
        signalGroup('SIGKILL');
        // A pipe held open by something outside the group must not keep us waiting.
        child.stdout.destroy();
        child.stderr.destroy();
      }, grace);
      killTimer.unref();
    }, options.timeoutMs);
    timer.unref();

    child.on('error', (error) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(new DriverError(AgentCode.INTERNAL, [`cannot run ${program}: ${error.message}`]));
    });

    child.on('close', (status, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);

      if (timedOut) {
        const seconds = Math.round(options.timeoutMs / 1000);
        reject(
          new DriverError(AgentCode.TIMEOUT, [
            `${name} did not finish within ${seconds} s and was killed`,
          ]),
        );
        return;
      }
      const code = status ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      resolve({ code, stdout: stdout.text(), stderr: stderr.text() });
    });
  });
}

/** The non-empty lines of a program's output, for DriverError. */
export function outputLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '');
}

/** Keeps the first `limit` bytes of a stream and says when the rest was dropped. */
class BoundedText {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.bytes;
    if (room <= 0) {
      this.dropped = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.dropped ||= kept.length < chunk.length;
    this.chunks.push(kept);
    this.bytes += kept.length;
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped ? `${text}\n[output truncated after ${this.limit} bytes]` : text;
  }
}
