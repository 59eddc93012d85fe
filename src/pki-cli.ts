/**
 * `crewvz pki init --dir DIR [--force]`
 * `crewvz pki issue-agent NAME --dir DIR [--ip A]... [--dns H]... [--force]`
 */
import { parseArgs } from 'node:util';

import { CrewvzError } from './errors.ts';
import { initPki, issueAgentCert } from './pki.ts';

const USAGE = [
  'usage: crewvz pki init --dir DIR [--force]',
  '       crewvz pki issue-agent NAME --dir DIR [--ip ADDRESS]... [--dns NAME]... [--force]',
  '',
  '  init         make a CA (ca.crt, ca.key) and the bot certificate (bot.crt, bot.key)',
  '  issue-agent  make NAME.crt and NAME.key for the node agent called NAME',
].join('\n');

function fail(message: string): number {
  process.stderr.write(`crewvz pki: ${message}\n\n${USAGE}\n`);
  return 2;
}

function report(files: string[]): void {
  for (const file of files) {
    process.stdout.write(`wrote ${file}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        ip: { type: 'string', multiple: true },
        dns: { type: 'string', multiple: true },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [action, ...rest] = positionals;

  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (action !== 'init' && action !== 'issue-agent') {
    return fail(action === undefined ? 'say init or issue-agent' : `unknown action '${action}'`);
  }
  if (!values.dir) {
    return fail('--dir DIR is required');
  }

  try {
    if (action === 'init') {
      if (rest.length > 0 || values.ip || values.dns) {
        return fail('init takes only --dir and --force');
      }
      report(await initPki(values.dir, { force: values.force ?? false }));
      return 0;
    }

    if (rest.length !== 1 || rest[0] === undefined) {
      return fail('issue-agent needs exactly one NAME');
    }
    const files = await issueAgentCert(values.dir, rest[0], {
      ips: values.ip ?? [],
      dns: values.dns ?? [],
      force: values.force ?? false,
    });
    report(files);
    return 0;
  } catch (error) {
    if (error instanceof CrewvzError) {
      process.stderr.write(`crewvz pki: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
