/**
 * Reads `vzlist -a -j`: a JSON array with one object per VE (legacy vzlist.c, vzlist(8)).
 * We use ctid (a number), status, ip (a string array), hostname and uptime (seconds, a float).
 */
import path from 'node:path';

import { DriverError } from './driver.ts';
import { AgentCode, type VeStatus } from './protocol.ts';

/** vzlist states that are not running: mounted and suspended VEs run no processes. */
const RUNNING = 'running';

export function parseVzlist(text: string, now: Date): VeStatus[] {
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
  const statuses: VeStatus[] = [];

  for (const entry of parsed) {
    const status = toStatus(entry, now);
    if (status) {
      statuses.push(status);
    }
  }
  return statuses.sort((a, b) => a.id - b.id);
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
  const firstIp = Array.isArray(ve.ip) && typeof ve.ip[0] === 'string' ? ve.ip[0] : null;

  return {
    id,
    state: running ? 'running' : 'stopped',
    address: firstIp ? firstIp.replace(/\/.*$/, '') : null,
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
