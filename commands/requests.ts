/** The request workflow from chat: file, list, approve, deny, cancel. */
import { addDays, formatDistanceStrict } from 'date-fns';

import { UserFacingError } from '../src/errors.ts';
import { table } from '../src/format.ts';
import { pickTemplate } from '../src/templates.ts';
import type { VeRequest } from '../src/store/index.ts';
import { actorOf } from './actor.ts';
import { REQUEST_ARG } from './args.ts';
import { define } from './types.ts';

/** The longest reason `!deny` stores and passes on to the requester. */
export const MAX_REASON_CHARS = 200;

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
    // Asked first so a refusal needs no network; file() asks again in its transaction, since
    // another create of the same person may be filed while the template is being picked.
    services.workflow.checkFiling(actor);

    const wanted = args.optionalText('template');
    const template = await pickTemplate(services.nodes, wanted, services.defaultTemplate);
    const request = services.workflow.file(actor, { template, origin });
    const { username } = request;

    // Filed even when no node answers: the template is then the node's default, chosen later.
    const what =
      template ?? "the node's default template (no node answers now; chosen at approval)";
    await respond({
      lines: [
        `request #${request.id} filed: a VE with ${what}, login ${username}. ` +
          `The crew has been asked; it expires in ${services.workflow.expireDays} days.`,
      ],
    });
    await services.notifier.toAlerts({
      lines: [
        `new request #${request.id} from ${actor.identity}: ${template ?? 'default template'}, ` +
          `login ${username}. !approve ${request.id} or !deny ${request.id} [reason]`,
      ],
      actions: [
        { label: 'Approve', command: `!approve ${request.id}`, style: 'primary' },
        { label: 'Deny', command: `!deny ${request.id}`, style: 'danger' },
      ],
    });
  },
});

function row(request: VeRequest, now: Date, expireDays: number): string[] {
  const filed = formatDistanceStrict(new Date(request.createdAt), now, { addSuffix: true });
  const ve = request.veId === null ? '' : `VE ${request.veId} on ${request.node}`;
  let expires = '';
  if (request.state === 'pending') {
    const at = addDays(new Date(request.createdAt), expireDays);
    expires = formatDistanceStrict(at, now, { addSuffix: true });
  }
  const template = request.template ?? '(at approval)';
  return [`#${request.id}`, request.state, request.requester, template, filed, ve, expires];
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
    const rows = open.map((r) => row(r, now, services.workflow.expireDays));
    const header = ['#', 'state', 'requester', 'template', 'filed', 'VE', 'expires'];
    const lines = table(header, rows);
    await respond({ lines, long: true, summary: `${open.length} open request(s)` });
  },
});

export const approve = define({
  name: 'approve',
  usage: 'approve N',
  summary: 'approve request N and create its VE',
  role: 'crew',
  args: [REQUEST_ARG],
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
    REQUEST_ARG,
    { name: 'reason', type: 'rest', optional: true },
  ],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const reason = args.optionalText('reason') ?? null;
    if (reason !== null && reason.length > MAX_REASON_CHARS) {
      throw new UserFacingError(
        `the reason is ${reason.length} characters long; keep it to ${MAX_REASON_CHARS}`,
      );
    }
    const request = services.workflow.deny(actorOf(context), args.int('N'), reason);
    await respond({ lines: [`request #${request.id} denied${reason ? `: ${reason}` : ''}`] });
  },
});

export const cancel = define({
  name: 'cancel',
  usage: 'cancel N',
  summary: "withdraw your pending request N (the crew may withdraw anyone's)",
  role: 'student',
  args: [REQUEST_ARG],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const request = services.workflow.cancel(actorOf(context), args.int('N'));
    await respond({ lines: [`request #${request.id} cancelled`] });
  },
});

export const REQUEST_COMMANDS = [veCreate, requests, approve, deny, cancel];
