/**
 * Roles, ordered: admin > crew > student. Admins come only from the config file; crew from the
 * config or from !grant (stored); everyone identified is at least a student.
 */
import { checkUsername } from '../agent/protocol.ts';
import { UserFacingError } from './errors.ts';
import type { GrantRepo } from './store/grants.ts';

export const ROLES = ['student', 'crew', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { student: 0, crew: 1, admin: 2 };

export function atLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/**
 * `adapter:id`: a lowercase adapter name, then a non-empty id with no spaces or control
 * characters. The one pattern for config, `!grant`/`!revoke` and the shell adapter.
 */
export const IDENTITY_PATTERN = /^[a-z][a-z0-9]*:[^\s\p{Cc}]+$/u;

export function isIdentity(value: string): boolean {
  return IDENTITY_PATTERN.test(value);
}

export interface RoleConfig {
  admins: readonly string[];
  crew: readonly string[];
}

export type RoleSource = 'config' | 'grant' | 'default';

export class Roles {
  private readonly admins: Set<string>;
  private readonly crew: Set<string>;

  constructor(
    config: RoleConfig,
    private readonly grants: GrantRepo,
  ) {
    this.admins = new Set(config.admins);
    this.crew = new Set(config.crew);
  }

  roleOf(identity: string): Role {
    return this.explain(identity).role;
  }

  /** The role and where it comes from, so !revoke can say why it cannot take a role away. */
  explain(identity: string): { role: Role; source: RoleSource } {
    if (this.admins.has(identity)) {
      return { role: 'admin', source: 'config' };
    }
    if (this.crew.has(identity)) {
      return { role: 'crew', source: 'config' };
    }
    if (this.grants.get(identity)) {
      return { role: 'crew', source: 'grant' };
    }
    return { role: 'student', source: 'default' };
  }
}

/**
 * The login name a VE gets for its owner: the id part of the identity, lowercased, with any
 * character a host name may not hold turned into `-`. Checked with the node's own
 * checkUsername (reserved names included) before a request is stored, so a name the agent
 * would refuse never gets as far as a VE.
 */
export function usernameFor(identity: string): string {
  const id = identity.slice(identity.indexOf(':') + 1);
  const name = id.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const refusal = checkUsername(name);

  if (refusal !== null) {
    throw new UserFacingError(
      `your identity ${identity} gives the login name '${name}', which the nodes refuse ` +
        `(${refusal}); ask the crew to make your VE by hand under another login name`,
    );
  }
  return name;
}
