import { execFile } from 'node:child_process';

/** Host tools (ssh-keygen, useradd, userdel) finish in well under a second; this is a hang. */
export const HOST_TOOL_TIMEOUT_MS = 30_000;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program with an argument array (never a shell) and answers with its exit status and
 * output instead of throwing, so each caller decides which statuses are failures.
 */
export function runCommand(
  file: string,
  args: string[],
  timeoutMs = HOST_TOOL_TIMEOUT_MS,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const options = {
      timeout: timeoutMs,
      killSignal: 'SIGKILL' as const,
      encoding: 'utf8' as const,
    };

    execFile(file, args, options, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      if (typeof error.code === 'number') {
        resolve({ code: error.code, stdout, stderr });
        return;
      }
      if (error.killed) {
        reject(new Error(`${file} did not finish within ${timeoutMs} ms and was killed`));
        return;
      }
      reject(new Error(`cannot run ${file}: ${error.message}`));
    });
  });
}

/** The stderr lines worth showing a person: warnings and errors, blanks dropped. */
export function stderrLines(result: CommandResult): string[] {
  return result.stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}
