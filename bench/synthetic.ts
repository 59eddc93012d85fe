/**
 * A made-up but realistic host: FIRST_VE.. VEs with twenty beancounters each, in the 64-bit
 * kernel's layout (unlimited is LONG_MAX_64), from a seeded generator so every run parses and
 * polls the same numbers.
 */
import { LONG_MAX_64, type BeancounterBlock, type BeancounterRow } from '../agent/beancounters.ts';
import { RESOURCE_UNITS } from '../agent/protocol.ts';

export const FIRST_VE = 101;
export const RESOURCES_PER_VE = 20;
export const RESOURCE_NAMES = Object.keys(RESOURCE_UNITS).slice(0, RESOURCES_PER_VE);

/** A small linear congruential generator: fast, seeded, good enough for test numbers. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function row(resource: string, random: () => number): BeancounterRow {
  const unlimited = random() < 0.3;
  const barrier = BigInt(Math.floor(random() * 2 ** 40) + 1024);
  const held = BigInt(Math.floor(random() * Number(barrier)));
  return {
    resource,
    held,
    maxheld: held + BigInt(Math.floor(random() * 4096)),
    barrier: unlimited ? LONG_MAX_64 : barrier,
    limit: unlimited ? LONG_MAX_64 : barrier + barrier / 10n,
    failcnt: random() < 0.05 ? BigInt(Math.floor(random() * 50)) : 0n,
  };
}

/** The host block `0` first (the kernel does not promise an order), then `count` VEs. */
export function syntheticBlocks(count: number, seed = 7): BeancounterBlock[] {
  const random = seeded(seed);
  const ids = ['0', ...Array.from({ length: count }, (_, index) => String(FIRST_VE + index))];
  return ids.map((id) => ({ id, rows: RESOURCE_NAMES.map((name) => row(name, random)) }));
}
