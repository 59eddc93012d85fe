/**
 * Flood control for growth alerts. Pure: the clock is the `now` argument.
 *
 * After an alert for a (VE, resource), further growth within the cooldown is held back and
 * summed into the next alert for it, which goes out with the first poll after the cooldown
 * ends, whether or not the counter grew again by then. A muted VE gets no alerts at all until
 * the mute ends, and what it had held back is dropped with it.
 */
import { resourceKey, splitResourceKey, type CooldownState, type Mute } from './types.ts';

export const DEFAULT_COOLDOWN_MS = 15 * 60 * 1000;

export interface KeyedGrowth {
  ve: string;
  resource: string;
  delta: number;
}

export interface CooldownInput {
  /** This poll's growth, at most one entry per (VE, resource). */
  growth: readonly KeyedGrowth[];
  /** Current state per resourceKey(ve, resource). */
  states: ReadonlyMap<string, CooldownState>;
  /**
   * Keys present in this poll: held-back growth is flushed only for these, so the alert can
   * show current values; it waits while the VE is missing.
   */
  present: ReadonlySet<string>;
  mutes: ReadonlyMap<string, Mute>;
  now: number;
  cooldownMs?: number;
}

export interface CooldownResult {
  /** Alerts to send now; `delta` includes everything held back before. */
  send: KeyedGrowth[];
  held: KeyedGrowth[];
  muted: KeyedGrowth[];
  /** Only the states that changed, to be stored. */
  states: Map<string, CooldownState>;
}

export function applyCooldown(input: CooldownInput): CooldownResult {
  const cooldownMs = input.cooldownMs ?? DEFAULT_COOLDOWN_MS;
  const result: CooldownResult = { send: [], held: [], muted: [], states: new Map() };
  const grown = new Set<string>();

  for (const growth of input.growth) {
    const key = resourceKey(growth.ve, growth.resource);
    grown.add(key);
    const state = input.states.get(key) ?? { lastSentAt: null, heldBack: 0 };
    decide(key, growth.delta, state, input, cooldownMs, result);
  }

  // Growth held back earlier goes out once its cooldown is over, even without new growth.
  for (const [key, state] of input.states) {
    if (grown.has(key) || state.heldBack === 0 || !input.present.has(key)) {
      continue;
    }
    decide(key, 0, state, input, cooldownMs, result);
  }
  return result;
}

function decide(
  key: string,
  delta: number,
  state: CooldownState,
  input: CooldownInput,
  cooldownMs: number,
  result: CooldownResult,
): void {
  const { ve, resource } = splitResourceKey(key);
  const mute = input.mutes.get(ve);

  if (mute !== undefined && mute.until > input.now) {
    if (delta > 0) {
      result.muted.push({ ve, resource, delta });
    }
    if (state.heldBack !== 0) {
      result.states.set(key, { lastSentAt: state.lastSentAt, heldBack: 0 });
    }
    return;
  }

  const total = state.heldBack + delta;
  const cooling = state.lastSentAt !== null && input.now - state.lastSentAt < cooldownMs;
  if (cooling) {
    if (delta > 0) {
      result.held.push({ ve, resource, delta });
      result.states.set(key, { lastSentAt: state.lastSentAt, heldBack: total });
    }
    return;
  }
  result.send.push({ ve, resource, delta: total });
  result.states.set(key, { lastSentAt: input.now, heldBack: 0 });
}
