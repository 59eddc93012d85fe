/** Operating existing VEs: list, status, start/stop/restart, remove, beancounters, limits. */
import { formatDistanceStrict } from 'date-fns';

import type { VeStatus } from '../agent/protocol.ts';
import { ubcTable, table } from '../src/format.ts';
import { UserFacingError } from '../src/errors.ts';
import type { VeAction } from '../src/ve-ops.ts';
import { actorOf } from './actor.ts';
import { VE_ID_ARG } from './args.ts';
import { define, type CommandSpec } from './types.ts';

/** `running since 2026-12-03 20:25 UTC (4 minutes)`: a time a person reads, and how long ago. */
function stateText(live: VeStatus | null, now: Date): string {
  if (live === null) {
    return 'unknown (node unreachable)';
  }
  if (live.state !== 'running' || !live.startedAt) {
    return live.state;
  }
  const started = new Date(live.startedAt);
  const at = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `running since ${at} (${formatDistanceStrict(started, now)})`;
}

export const veList = define({
  name: 've list',
  aliases: ['ves'],
  usage: 've list',
  summary: 'your VEs (every VE for the crew), with their state',
  role: 'student',
  args: [],
  mutating: false,
  async handler(context) {
    const listed = await context.services.ves.list(actorOf(context));
    if (listed.length === 0) {
      await context.respond({ lines: ['no VEs yet; !ve create asks for one'] });
      return;
    }
    const rows = listed.map(({ ve, live }) => [
      `VE ${ve.id}`,
      ve.node,
      ve.owner,
      ve.username,
      live?.address ?? '-',
      stateText(live, context.services.now()),
    ]);
    const lines = table(['VE', 'node', 'owner', 'login', 'address', 'state'], rows);
    await context.respond({ lines, long: true, summary: `${listed.length} VE(s)` });
  },
});

export const veStatus = define({
  name: 've status',
  usage: 've status ID',
  summary: 'state, address and start time of one VE',
  role: 'student',
  args: [VE_ID_ARG],
  mutating: false,
  async handler(context) {
    const id = context.args.int('ID');
    const { ve, live } = await context.services.ves.status(actorOf(context), id);
    const address = live.address ? `, address ${live.address}` : '';
    const host = live.hostname ? `, hostname ${live.hostname}` : '';
    await context.respond({
      lines: [`VE ${ve.id} on ${ve.node}: ${stateText(live, context.services.now())}${address}${host}`],
    });
  },
});

function action(name: VeAction, summary: string): CommandSpec {
  return define({
    name: `ve ${name}`,
    usage: `ve ${name} ID`,
    summary,
    role: 'student',
    args: [VE_ID_ARG],
    mutating: true,
    async handler(context) {
      const id = context.args.int('ID');
      const { live, already } = await context.services.ves.act(actorOf(context), id, name);
      const was = name === 'stop' ? 'was already stopped' : 'is already running';
      const line = already ? `VE ${id} ${was}` : `VE ${id}: ${stateText(live, context.services.now())}`;
      await context.respond({ lines: [line] });
    },
  });
}

export const veRemove = define({
  name: 've remove',
  aliases: ['ve destroy'],
  usage: 've remove ID [confirm]',
  summary: 'destroy a VE and everything in it (asks you to confirm)',
  role: 'student',
  args: [
    VE_ID_ARG,
    { name: 'confirm', type: 'word', optional: true },
  ],
  mutating: true,
  async handler(context) {
    const id = context.args.int('ID');
    const word = context.args.optionalText('confirm');
    if (word !== undefined && word.toLowerCase() !== 'confirm') {
      throw new UserFacingError(`to remove VE ${id}, say: !ve remove ${id} confirm`);
    }
    const done = await context.services.ves.remove(actorOf(context), id, word !== undefined);
    const ask = `this destroys VE ${id} and all its files. Within a minute, say: !ve remove ${id}`;
    const lines = done ? [`VE ${id} removed; its ID is never used again`] : [`${ask} confirm`];
    await context.respond({ lines });
  },
});

export const veUbc = define({
  name: 've ubc',
  aliases: ['ubc'],
  usage: 've ubc ID',
  summary: 'resource counters (beancounters) of a VE; * marks a row in trouble',
  role: 'student',
  args: [VE_ID_ARG],
  mutating: false,
  async handler(context) {
    const id = context.args.int('ID');
    const rows = await context.services.ves.ubc(actorOf(context), id);
    const marked = rows.filter((row) => row.failcnt > 0).length;
    const lines = [`VE ${id} beancounters:`, ...ubcTable(rows)];
    const summary = `VE ${id}: ${rows.length} counters, ${marked} with failures`;
    await context.respond({ lines, long: true, summary });
  },
});

export const veSet = define({
  name: 've set',
  usage: 've set ID RESOURCE BARRIER[:LIMIT]',
  summary: 'change a beancounter limit of a VE',
  role: 'crew',
  args: [
    VE_ID_ARG,
    { name: 'RESOURCE', type: 'word' },
    { name: 'VALUE', type: 'word' },
  ],
  mutating: true,
  async handler(context) {
    const { args } = context;
    const id = args.int('ID');
    const resource = args.text('RESOURCE').toLowerCase();
    const value = args.text('VALUE');
    await context.services.ves.set(actorOf(context), id, resource, value);
    await context.respond({ lines: [`VE ${id}: ${resource} set to ${value}`] });
  },
});

export const veKey = define({
  name: 've key',
  usage: 've key ID PUBLIC-KEY',
  summary: 'install your SSH public key (a ~/.ssh/id_*.pub line) to log in to a VE',
  role: 'student',
  args: [VE_ID_ARG, { name: 'PUBLIC-KEY', type: 'rest', unaudited: true }],
  mutating: true,
  async handler(context) {
    const id = context.args.int('ID');
    const actor = actorOf(context);
    const publicKey = context.args.text('PUBLIC-KEY');
    const { ve, key, sshHost } = await context.services.ves.authorize(actor, id, publicKey);
    const whose = ve.owner === actor.identity ? 'your key' : `the key of ${ve.owner}`;
    await context.respond({
      lines: [
        `VE ${id}: ${whose} (${key.type}) is installed; log in with ssh ${ve.username}@${sshHost}`,
      ],
    });
  },
});

export const VE_COMMANDS = [
  veList,
  veStatus,
  action('start', 'start a stopped VE'),
  action('stop', 'stop a running VE'),
  action('restart', 'restart a VE'),
  veRemove,
  veUbc,
  veSet,
  veKey,
];
