/**
 * The per-person quotas (config `quotas`): pending requests, and VEs held or on their way.
 * Admins are exempt from filing limits; approval checks the requester's VEs whoever approves.
 */
import { UserFacingError } from './errors.ts';
import type { Store } from './store/index.ts';
import { IN_FLIGHT_STATES, OPEN_STATES } from './store/requests.ts';
import type { Actor } from './workflow.ts';

export interface Quotas {
  activeVes: number;
  pendingRequests: number;
}

/** VEs a person holds, and requests approved for them whose VE is on its way. */
function heldBy(store: Store, identity: string): { active: number; coming: number } {
  return {
    active: store.ves.countActiveByOwner(identity),
    coming: store.requests.countInStates(identity, IN_FLIGHT_STATES),
  };
}

/** Throws a user error when `actor` may not file another request now. */
export function checkRequestQuota(store: Store, quotas: Quotas, actor: Actor): void {
  if (actor.role === 'admin') {
    return;
  }
  const pending = store.requests.inStates(OPEN_STATES, actor.identity);
  if (pending.length >= quotas.pendingRequests) {
    const ids = pending.map((request) => `#${request.id}`).join(', ');
    throw new UserFacingError(
      `you already have ${pending.length} pending request(s) (${ids || 'none allowed'}; ` +
        `quota ${quotas.pendingRequests}); wait for the crew or !cancel one first`,
    );
  }
  checkActiveQuota(store, quotas, actor.identity, 'you already hold', '');
}

/** Throws a user error when `identity` holds its quota of VEs; `who` and `outcome` word it. */
export function checkActiveQuota(
  store: Store,
  quotas: Quotas,
  identity: string,
  who: string,
  outcome: string,
): void {
  const { active, coming } = heldBy(store, identity);
  const held = active + coming;
  if (held >= quotas.activeVes) {
    const creating = coming === 0 ? '' : `, ${coming} of them being created`;
    throw new UserFacingError(
      `${who} ${held} VE(s)${creating} (quota ${quotas.activeVes})${outcome}; ` +
        `remove one with !ve remove ID or ask an admin`,
    );
  }
}
