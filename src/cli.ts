/**
 * `crewvz VERB ...`: one entry point for every job. Each verb lives in its own module, loaded
 * only when asked for, so `crewvz agent` on a node never loads the bot's dependencies.
 */

type VerbMain = (argv: string[]) => Promise<number>;

const VERBS: Record<string, { summary: string; load: () => Promise<VerbMain> }> = {
  demo: {
    summary: 'try everything in this terminal: a local simulated node and you as admin',
    load: async () => (await import('./demo.ts')).main,
  },
  bot: {
    summary: 'run the bot: crewvz bot --config FILE',
    load: async () => (await import('./bot-cli.ts')).main,
  },
  agent: {
    summary: 'run a node agent: crewvz agent --config FILE',
    load: async () => (await import('../agent/main.ts')).main,
  },
  pki: {
    summary: 'make certificates: crewvz pki init|issue-agent ... --dir DIR',
    load: async () => (await import('./pki-cli.ts')).main,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(VERBS).map((verb) => verb.length));
  const lines = Object.entries(VERBS).map(
    ([verb, { summary }]) => `  ${verb.padEnd(width)}  ${summary}`,
  );
  return ['usage: crewvz VERB [options]', '', ...lines].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;

  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(`${usage()}\n`);
    return verb === undefined ? 2 : 0;
  }
  const entry = VERBS[verb];
  if (!entry) {
    process.stderr.write(`crewvz: unknown verb '${verb}'\n\n${usage()}\n`);
    return 2;
  }
  const main = await entry.load();
  return main(rest);
}

run(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`crewvz: ${message}\n`);
    process.exitCode = 1;
  },
);
