/** `crewvz bot --config FILE`: runs the bot until SIGINT or SIGTERM (or the terminal ends). */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';

import { ShellAdapter } from '../adapters/shell.ts';
import type { ChatAdapter } from '../adapters/types.ts';
import { Bot } from './bot.ts';
import { loadConfig } from './config.ts';
import { CrewvzError } from './errors.ts';
import { createLogger } from './log.ts';

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

  let bot: Bot;
  let shell: ShellAdapter | null = null;
  try {
    const { config, warnings } = await loadConfig(file);
    const logger = createLogger({ level: config.logLevel });
    for (const warning of warnings) {
      logger.warn({ config: file }, warning);
    }
    const adapters: ChatAdapter[] = [];
    if (config.adapters.shell) {
      shell = new ShellAdapter({
        input: process.stdin,
        output: process.stdout,
        login: config.adapters.shell.login || userInfo().username,
        prompt: process.stdin.isTTY === true,
      });
      adapters.push(shell);
    }
    bot = await Bot.start({ config, logger, adapters });
  } catch (error) {
    if (error instanceof CrewvzError && error.code !== 'crewvz.unknown') {
      process.stderr.write(`crewvz bot: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
    void shell?.done.then(resolve);
  });
  await bot.stop();
  return 0;
}
