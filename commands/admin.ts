/** The cluster and the crew: templates, nodes, role grants and the audit log. */
import type { PingResult } from '../agent/protocol.ts';
import { UserFacingError } from '../src/errors.ts';
import { table } from '../src/format.ts';
import { echo } from '../src/tokenize.ts';
import { whyUnreachable } from '../src/nodes.ts';
import { isIdentity } from '../src/roles.ts';
import { describeUpdates, updateTemplates } from '../src/template-update.ts';
import { listTemplates } from '../src/templates.ts';
import { actorOf } from './actor.ts';
import { define } from './types.ts';

const AUDIT_DEFAULT = 10;
const AUDIT_MAX = 100;

export const templates = define({
  name: 'templates',
  usage: 'templates',
  summary: 'OS templates a VE can be made from',
  role: 'student',
  args: [],
  mutating: false,
  async handler({ services, respond }) {
    const found = await listTemplates(services.nodes);
    if (!found) {
      throw new UserFacingError('no node answers right now; try again in a while');
    }
    const names = found.names.length > 0 ? found.names : ['(none)'];
    await respond({ lines: [`templates on ${found.node}:`, ...names.map((n) => `  ${n}`)] });
  },
});

export const templatesUpdate = define({
  name: 'templates update',
  usage: 'templates update',
  summary: "every node syncs its template cache from its agent's templateSource",
  role: 'crew',
  args: [],
  mutating: true,
  async handler({ services, respond }) {
    const count = services.nodes.names().length;
    await respond({ lines: [`updating templates on ${count} node(s); this may take a while…`] });
    const updates = await updateTemplates(services.nodes);
    await respond({
      lines: ['templates update:', ...describeUpdates(updates)],
      long: true,
      summary: `templates update: ${updates.map((u) => `${u.node} ${u.outcome}`).join(', ')}`,
    });
  },
});

export const nodes = define({
  name: 'nodes',
  usage: 'nodes',
  summary: 'the nodes, whether they answer, and their active VEs',
  role: 'crew',
  args: [],
  mutating: false,
  async handler({ services, respond }) {
    const rows = await Promise.all(
      services.nodes.names().map(async (name) => {
        const count = String(services.store.ves.countActiveByNode(name));
        try {
          const [ping] = (await services.nodes.call(name, 'ping', [])) as [PingResult];
          return [name, `up (${ping.driver} driver)`, count];
        } catch (error) {
          return [name, `unreachable: ${whyUnreachable(error)}`, count];
        }
      }),
    );
    await respond({ lines: table(['node', 'state', 'active VEs'], rows), long: true });
  },
});

/** Refuses what cannot be an identity, echoing it safely (no control characters, short). */
function checkIdentity(identity: string): void {
  if (!isIdentity(identity)) {
    throw new UserFacingError(
      `'${echo(identity)}' is not an identity; write it as adapter:id, the way the person's ` +
        `network vouches for them (shell:login, irc:account, slack:userid); !whoami shows yours`,
    );
  }
}

export const grant = define({
  name: 'grant',
  usage: 'grant IDENTITY ROLE',
  summary: 'give someone the crew role (ROLE is crew)',
  role: 'admin',
  args: [
    { name: 'IDENTITY', type: 'word' },
    { name: 'ROLE', type: 'word' },
  ],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const identity = args.text('IDENTITY');
    const role = args.text('ROLE').toLowerCase();
    checkIdentity(identity);
    if (role !== 'crew') {
      throw new UserFacingError('only crew can be granted in chat; admins are set in the config');
    }
    const at = services.now().toISOString();
    const by = actorOf(context).identity;
    services.store.transaction(() => {
      services.store.grants.put({ identity, role: 'crew', grantedBy: by, grantedAt: at });
      services.store.audit.add({
        at,
        actor: by,
        action: 'role granted',
        target: identity,
        outcome: 'ok',
        detail: role,
      });
    });
    await respond({ lines: [`${identity} is now crew`] });
  },
});

export const revoke = define({
  name: 'revoke',
  usage: 'revoke IDENTITY',
  summary: 'take back a crew role given with !grant',
  role: 'admin',
  args: [{ name: 'IDENTITY', type: 'word' }],
  mutating: true,
  async handler(context) {
    const { services, respond, args } = context;
    const identity = args.text('IDENTITY');
    checkIdentity(identity);
    const { role, source } = services.roles.explain(identity);
    if (source === 'config') {
      throw new UserFacingError(`${identity} is ${role} in the config file; change it there`);
    }
    const at = services.now().toISOString();
    const by = actorOf(context).identity;
    const removed = services.store.transaction(() => {
      const done = services.store.grants.delete(identity);
      if (done) {
        services.store.audit.add({
          at,
          actor: by,
          action: 'role revoked',
          target: identity,
          outcome: 'ok',
          detail: 'crew',
        });
      }
      return done;
    });
    if (!removed) {
      throw new UserFacingError(`${identity} has no granted role`);
    }
    await respond({ lines: [`${identity} is a student again`] });
  },
});

export const audit = define({
  name: 'audit',
  usage: 'audit [n]',
  summary: `the last n audit entries (default ${AUDIT_DEFAULT}, at most ${AUDIT_MAX})`,
  role: 'crew',
  args: [{ name: 'n', type: 'int', optional: true, min: 1, max: AUDIT_MAX }],
  mutating: false,
  async handler({ services, respond, args }) {
    const count = args.optionalInt('n') ?? AUDIT_DEFAULT;
    const entries = services.store.audit.recent(count);
    const lines = entries.map((entry) => {
      const target = entry.target ? ` ${entry.target}` : '';
      const detail = entry.detail ? ` (${entry.detail})` : '';
      return `${entry.at}  ${entry.actor}  ${entry.action}${target}: ${entry.outcome}${detail}`;
    });
    await respond({ lines: lines.length > 0 ? lines : ['the audit log is empty'], long: true });
  },
});

export const ADMIN_COMMANDS = [templates, templatesUpdate, nodes, grant, revoke, audit];
