/**
 * The node's pool of private VE addresses and the ledger that hands them out. An address counts
 * as taken when any VE config on the node names it (running or stopped: a stopped VE keeps its
 * address and gets it back on start) or a provisioning record holds it (a create in flight, or
 * one that crashed before its VE existed). Allocation runs under one lock, and the claim that
 * makes an address taken (writing the record) runs inside it, so ten concurrent creates can
 * never pick the same address.
 */
import os from 'node:os';

import { Mutex } from '../mutex.ts';

/** Strict dotted-quad IPv4, no leading zeros: it goes into scripts, so no surprises. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_PATTERN = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** Anything wider than this is a typo; a node does not run 65 536 VEs. */
const MAX_POOL_SIZE = 65_536;

export function isIpv4(text: string): boolean {
  return IPV4_PATTERN.test(text);
}

export function ipToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

export function numberToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export interface PoolRange {
  first: number;
  last: number;
}

function poolError(pool: string, why: string): Error {
  return new Error(
    `network.pool "${pool}" ${why}; write a CIDR block like 10.0.5.0/24 ` +
      'or a range like 10.0.5.10-10.0.5.200',
  );
}

/**
 * Reads `10.0.5.0/24` (network and broadcast addresses left out) or `10.0.5.10-10.0.5.200`
 * (both ends included).
 */
export function parsePool(pool: string): PoolRange {
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(pool);
  const range = /^([\d.]+)-([\d.]+)$/.exec(pool);
  let first: number;
  let last: number;

  if (cidr) {
    const [, base = '', bitsText = ''] = cidr;
    const bits = Number(bitsText);
    if (!isIpv4(base) || bits < 8 || bits > 30) {
      throw poolError(pool, 'is not an IPv4 block between /8 and /30');
    }
    const size = 2 ** (32 - bits);
    const network = ipToNumber(base) - (ipToNumber(base) % size);
    first = network + 1;
    last = network + size - 2;
  } else if (range) {
    const [, from = '', to = ''] = range;
    if (!isIpv4(from) || !isIpv4(to)) {
      throw poolError(pool, 'has an end that is not an IPv4 address');
    }
    first = ipToNumber(from);
    last = ipToNumber(to);
  } else {
    throw poolError(pool, 'is neither a CIDR block nor a range');
  }

  if (last < first) {
    throw poolError(pool, 'ends before it starts');
  }
  if (last - first + 1 > MAX_POOL_SIZE) {
    throw poolError(pool, `holds more than ${MAX_POOL_SIZE} addresses`);
  }
  return { first, last };
}

/**
 * Addresses a VE must never get whatever the pool says: the configured nameservers (often the
 * gateway too) and every IPv4 address of the host's own interfaces. A VE with the host's or the
 * resolver's address would take its traffic.
 */
export function infrastructureAddresses(
  nameservers: readonly string[],
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string[] {
  const host = Object.values(interfaces)
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.family === 'IPv4')
    .map((entry) => entry.address);
  return [...nameservers.filter(isIpv4), ...host];
}

/** Where the ledger learns which addresses are taken. */
export type TakenSource = () => Promise<Iterable<string | null>>;

export class PoolExhaustedError extends Error {
  constructor(pool: string, taken: number) {
    super(
      `no free address left in network.pool ${pool} (${taken} taken); ` +
        'remove unused VEs or widen the pool in the agent config',
    );
    this.name = 'PoolExhaustedError';
  }
}

export class AddressPool {
  private readonly range: PoolRange;
  private readonly lock = new Mutex();

  constructor(
    private readonly pool: string,
    private readonly sources: TakenSource[],
  ) {
    this.range = parsePool(pool);
  }

  /** Every address some source names, in or out of the pool. */
  async taken(): Promise<Set<string>> {
    const taken = new Set<string>();

    for (const source of this.sources) {
      for (const address of await source()) {
        if (address !== null) {
          taken.add(address);
        }
      }
    }
    return taken;
  }

  /**
   * Picks the lowest free address and calls `claim` with it while still holding the lock;
   * `claim` must make the address show up in a source (write the record) before it returns.
   */
  allocate<T>(claim: (address: string) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      const taken = await this.taken();

      for (let value = this.range.first; value <= this.range.last; value++) {
        const address = numberToIp(value);
        if (!taken.has(address)) {
          return claim(address);
        }
      }
      throw new PoolExhaustedError(this.pool, this.range.last - this.range.first + 1);
    });
  }
}
