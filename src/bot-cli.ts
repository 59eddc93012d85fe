/** `crewvz bot --config FILE`: runs the bot until SIGINT or SIGTERM (or the terminal ends). */
import { parseArgs } from 'node:util';

import { ShellAdapter } from '../adapters/shell.ts';
import type { ChatAdapter } from '../adapters/types.ts';
import { Bot } from './bot.ts';
import { loadConfig, logFileFor } from './config.ts';
import { CrewvzError } from './errors.ts';
import { createLogger } from './log.ts';
import { StopSignals } from './shutdown.ts';

const USAGE = 'usage: crewvz bot --config FILE';

export async function main(argv: string[]): Promise<number> {
  let file: string | undefined;
  try {
    ({ values: { config: file } } = parseArgs({
      args: argv,
      options: { config: { type: 'string' } },
    }));
  } catch (error) {
    process.stderr.write(`crewvz bot: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!file) {
    process.stderr.write(`crewvz bot: --config FILE is required\n${USAGE}\n`);
    return 2;
  }

  const signals = new StopSignals({ say: (text) => process.stderr.write(text) });
  let bot: Bot | null = null;
  let shell: ShellAdapter | null = null;
  try {
    const { config, warnings } = await loadConfig(file);
    const logFile = logFileFor(config);
    const logger = createLogger({ level: config.logLevel, ...(logFile ? { file: logFile } : {}) });
    if (logFile !== null) {
      process.stderr.write(`crewvz bot: logging to ${logFile}\n`);
    }
    for (const warning of warnings) {
      logger.warn({ config: file }, warning);
      // With the log in a file, a typo in the config would otherwise go unseen at the terminal.
      if (logFile !== null) {
        process.stderr.write(`crewvz bot: ${file}: ${warning}\n`);
      }
    }
    const adapters: ChatAdapter[] = [];
    if (config.adapters.shell) {
      // No /as here: the person at this terminal is who the system says, never an admin by
      // typing a name.
      shell = new ShellAdapter({
        input: process.stdin,
        output: process.stdout,
        login: config.adapters.shell.login,
        prompt: process.stdin.isTTY === true,
        logger,
      });
      adapters.push(shell);
    }
    bot = await Bot.start({ config, logger, adapters });
    await signals.wait(shell?.done ?? null);
  } catch (error) {
    signals.release(1);
    if (error instanceof CrewvzError && error.code !== 'crewvz.unknown') {
      process.stderr.write(`crewvz bot: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  await bot.stop();
  signals.release(0);
  return 0;
}
