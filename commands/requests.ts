/** The request workflow from chat: file, list, approve, deny, cancel. */
import { addDays, formatDistanceStrict } from 'date-fns';

import { usernameFor } from '../src/roles.ts';
import { pickTemplate } from '../src/templates.ts';
import type { VeRequest } from '../src/store/index.ts';
import { actorOf } from './actor.ts';
import { define } from './types.ts';

export const veCreate = define({
  name: 've create',
  aliases: ['request'],
  usage: 've create [template]',
  summary: 'ask for a VE; the crew approves it',
  role: 'student',
  args: [{ name: 'template', type: 'word', optional: true }],
  mutating: true,
  async handler(context) {
    const { services, respond, origin, args } = context;
    const actor = actorOf(context);
    const username = usernameFor(actor.identity);
    services.workflow.checkRequestQuota(actor);

    const wanted = args.optionalText('template');
    const template = await pickTemplate(services.nodes, wanted, services.defaultTemplate);
    const request = services.workflow.file({
      requester: actor.identity,
      username,
      template,
      origin,
    });

    await respond({
      lines: [
        `request #${request.id} filed: a VE with ${template}, login ${username}. ` +
          `The crew has been asked; it expires in ${services.workflow.expireDays} days.`,
      ],
    });
    await services.notifier.toAlerts({
      lines: [
        `new request #${request.id} from ${actor.identity}: ${template}, login ${username}. ` +
          `!approve ${request.id} or !deny ${request.id} [reason]`,
      ],
      actions: [
        { label: 'Approve', command: `!approve ${request.id}`, style: 'primary' },
        { label: 'Deny', command: `!deny ${request.id}`, style: 'danger' },
      ],
    });
  },
});

function describe(request: VeRequest, now: Date, expireDays: number): string {
  const filed = formatDistanceStrict(new Date(request.createdAt), now, { addSuffix: true });
  const parts = [`#${request.id}`, request.state, request.requester, request.template, filed];
  if (request.veId !== null) {
    parts.push(`VE ${request.veId} on ${request.node}`);
  }
  if (request.state === 'pending') {
    const expires = addDays(new Date(request.createdAt), expireDays);
    parts.push(`expires ${formatDistanceStrict(expires, now, { addSuffix: true })}`);
  }
  return parts.join('  ');
}

export const requests = define({
  name: 'requests',
  usage: 'requests',
  summary: 'open requests (yours, or everyone\'s for the crew)',
  role: 'student',
  args: [],
  mutating: false,
  async handler(context) {
    const { services, respond } = context;
    const open = services.workflow.open(actorOf(context));
    const now = services.now();

    if (open.length === 0) {
      await respond({ lines: ['no open requests'] });
      return;
    }
    const lines = open.map((r) => describe(r, now, services.workflow.expireDays));
    await respond({ lines, long: true, summary: `${open.length} open request(s)` });
  },
});

export const approve = define({
  name: 'approve',
  usage: 'approve N',
  summary: 'approve request N and create its VE',
  role: 'crew',
  args: [{ name: 'N', type: 'int' }],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    await services.workflow.approve(actorOf(context), args.int('N'), respond);
  },
});

export const deny = define({
  name: 'deny',
  aliases: ['reject'],
  usage: 'deny N [reason]',
  summary: 'deny request N, saying why',
  role: 'crew',
  args: [
    { name: 'N', type: 'int' },
    { name: 'reason', type: 'rest', optional: true },
  ],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const reason = args.optionalText('reason') ?? null;
    const request = services.workflow.deny(actorOf(context), args.int('N'), reason);
    await respond({ lines: [`request #${request.id} denied${reason ? `: ${reason}` : ''}`] });
  },
});

export const cancel = define({
  name: 'cancel',
  usage: 'cancel N',
  summary: 'withdraw your pending request N',
  role: 'student',
  args: [{ name: 'N', type: 'int' }],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const request = services.workflow.cancel(actorOf(context), args.int('N'));
    await respond({ lines: [`request #${request.id} cancelled`] });
  },
});

export const REQUEST_COMMANDS = [veCreate, requests, approve, deny, cancel];
