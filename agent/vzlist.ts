/**
 * Reads `vzlist -a -j`: a JSON array with one object per VE (legacy vzlist.c, vzlist(8)).
 * We use ctid (a number; a UUID string on VZ7+), status, ip (a string array), hostname and
 * uptime (seconds, a float).
 */
import path from 'node:path';

import { DriverError } from './driver.ts';
import { AgentCode, type VeStatus } from './protocol.ts';

/** vzlist states that are not running: mounted and suspended VEs run no processes. */
const RUNNING = 'running';

/** The entries of `vzlist -a -j`, or the error that tells why it printed no JSON array. */
function vzlistEntries(text: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // vzlist prints strings without escaping, so a quote in a description breaks its JSON.
    throw new DriverError(AgentCode.INTERNAL, [
      'vzlist -a -j printed something that is not JSON (a VE description with a quote?)',
    ]);
  }
  if (!Array.isArray(parsed)) {
    throw new DriverError(AgentCode.INTERNAL, ['vzlist -a -j did not print a JSON array']);
  }
  return parsed;
}

/** Every address in an entry's `ip` array, without a `/prefix` suffix. */
function addressesOf(entry: unknown): string[] {
  const ip = typeof entry === 'object' && entry !== null ? (entry as { ip?: unknown }).ip : null;
  if (!Array.isArray(ip)) {
    return [];
  }
  return ip
    .filter((address): address is string => typeof address === 'string')
    .map((address) => address.replace(/\/.*$/, ''));
}

export function parseVzlist(text: string, now: Date): VeStatus[] {
  const statuses: VeStatus[] = [];

  for (const entry of vzlistEntries(text)) {
    const status = toStatus(entry, now);
    if (status) {
      statuses.push(status);
    }
  }
  return statuses.sort((a, b) => a.id - b.id);
}

/**
 * Every address of every VE vzlist lists, running or stopped, a VE with several addresses and
 * one named by a UUID (VZ7+) included: what the provisioning ledger must never hand out again.
 * parseVzlist keeps only numeric IDs and the first address, as the VE API shows them.
 */
export function vzlistAddresses(text: string): string[] {
  return vzlistEntries(text).flatMap(addressesOf);
}

/** One VE, or null for an entry we cannot name by a numeric ID (a VZ7 UUID). */
function toStatus(entry: unknown, now: Date): VeStatus | null {
  if (typeof entry !== 'object' || entry === null) {
    return null;
  }
  const ve = entry as Record<string, unknown>;
  const id = typeof ve.ctid === 'string' ? Number(ve.ctid.trim()) : ve.ctid;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
    return null;
  }
  const running = ve.status === RUNNING;
  const [firstIp] = addressesOf(ve);

  return {
    id,
    state: running ? 'running' : 'stopped',
    address: firstIp ?? null,
    hostname: typeof ve.hostname === 'string' && ve.hostname !== '' ? ve.hostname : null,
    startedAt: running && typeof ve.uptime === 'number' ? startTime(now, ve.uptime) : null,
  };
}

/**
 * now − uptime, rounded to the second: uptime is measured a moment before `now`, so anything
 * finer would jitter between two calls for the same boot.
 */
function startTime(now: Date, uptimeSeconds: number): string {
  const ms = Math.round((now.getTime() - uptimeSeconds * 1000) / 1000) * 1000;
  return new Date(ms).toISOString();
}

/**
 * The VE's root directory (vzlist's `root`, VE_ROOT in its config), or null when vzlist does not
 * list the VE or names no root.
 */
export function veRootOf(text: string, id: number): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed)) {
    return null;
  }
  for (const entry of parsed) {
    const ve = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >;
    const ctid = typeof ve.ctid === 'string' ? Number(ve.ctid.trim()) : ve.ctid;
    if (ctid === id && typeof ve.root === 'string' && path.isAbsolute(ve.root)) {
      return ve.root;
    }
  }
  return null;
}
