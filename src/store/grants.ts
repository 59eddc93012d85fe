import type { Db } from './db.ts';

export interface RoleGrant {
  identity: string;
  role: 'crew';
  grantedBy: string;
  grantedAt: string;
}

/** Crew membership given in chat with !grant; config-file roles are not stored here. */
export class GrantRepo {
  constructor(private readonly db: Db) {}

  get(identity: string): RoleGrant | null {
    const row = this.db
      .prepare(
        `SELECT identity, role, granted_by AS grantedBy, granted_at AS grantedAt
         FROM role_grants WHERE identity = ?`,
      )
      .get(identity) as RoleGrant | undefined;
    return row ?? null;
  }

  put(grant: RoleGrant): void {
    this.db
      .prepare(
        `INSERT INTO role_grants (identity, role, granted_by, granted_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (identity) DO UPDATE SET role = excluded.role,
           granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
      )
      .run(grant.identity, grant.role, grant.grantedBy, grant.grantedAt);
  }

  delete(identity: string): boolean {
    const info = this.db.prepare('DELETE FROM role_grants WHERE identity = ?').run(identity);
    return info.changes === 1;
  }

  all(): RoleGrant[] {
    return this.db
      .prepare(
        `SELECT identity, role, granted_by AS grantedBy, granted_at AS grantedAt
         FROM role_grants ORDER BY identity`,
      )
      .all() as RoleGrant[];
  }
}
