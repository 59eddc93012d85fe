/**
 * The node login a new request gets. It comes from the identity (src/roles.ts usernameFor), with
 * accents dropped first (`shell:ünï` → `uni`, not `-n-`). A login belongs to one person: a
 * request whose login another identity already uses (a live request, or a VE not removed) is
 * refused, since both would share a host account, key and web name on the node. One person's
 * second VE gets the login with a number (`bob2`), as each VE needs its own account.
 */
import { UserFacingError } from './errors.ts';
import { usernameFor } from './roles.ts';
import type { Store } from './store/index.ts';
import { IN_FLIGHT_STATES, OPEN_STATES, type RequestState } from './store/requests.ts';

/** Requests that hold on to their login: every state but the closed-without-a-VE ones. */
const HOLDING: readonly RequestState[] = [...OPEN_STATES, ...IN_FLIGHT_STATES, 'active'];
/** Requests on their way to a VE, which a second VE of the same person must not share. */
const ON_THE_WAY: readonly RequestState[] = [...OPEN_STATES, ...IN_FLIGHT_STATES];
const MAX_LOGIN = 32;
const MAX_NUMBER = 99;

/** `shell:Ünï` → `shell:Uni`: letters keep their base letter, combining marks go. */
function withoutAccents(identity: string): string {
  return identity.normalize('NFKD').replace(/\p{M}/gu, '');
}

/** Everyone other than `identity` who holds `login`. */
function othersHolding(store: Store, login: string, identity: string): string[] {
  const holders = [
    ...store.requests.requestersOfLogin(login, HOLDING),
    ...store.ves.ownersOfLogin(login),
  ];
  return holders.filter((holder) => holder !== identity);
}

/** True when `identity` already has a live VE or an open request under `login`. */
function ownUse(store: Store, login: string, identity: string): boolean {
  return (
    store.ves.ownersOfLogin(login).includes(identity) ||
    store.requests.requestersOfLogin(login, ON_THE_WAY).includes(identity)
  );
}

export function loginFor(store: Store, identity: string): string {
  const base = usernameFor(withoutAccents(identity));

  if (othersHolding(store, base, identity).length > 0) {
    throw new UserFacingError(
      `your identity ${identity} gives the login name '${base}', which another person already ` +
        'has on the nodes; ask the crew to make your VE under another login name',
    );
  }
  if (!ownUse(store, base, identity)) {
    return base;
  }
  for (let number = 2; number <= MAX_NUMBER; number += 1) {
    const suffix = String(number);
    const login = `${base.slice(0, MAX_LOGIN - suffix.length)}${suffix}`;
    if (othersHolding(store, login, identity).length === 0 && !ownUse(store, login, identity)) {
      return usernameFor(`login:${login}`);
    }
  }
  throw new UserFacingError(
    `you hold ${MAX_NUMBER} logins already; remove a VE with !ve remove ID, or ask the crew`,
  );
}
