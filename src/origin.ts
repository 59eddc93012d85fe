/**
 * Where a command was said, as commands see it: a value they pass on to the workflow (which
 * stores it, to announce the outcome there), never one they read, since commands must not know
 * which adapter they run under.
 */
import type { Origin } from './store/requests.ts';

declare const OPAQUE: unique symbol;

export interface OpaqueOrigin {
  readonly [OPAQUE]: 'origin';
}

export function sealOrigin(origin: Origin): OpaqueOrigin {
  return origin as unknown as OpaqueOrigin;
}

export function unsealOrigin(origin: OpaqueOrigin): Origin {
  return origin as unknown as Origin;
}
