/**
 * The simulated node's memory: which VEs exist and how they were made, kept as one JSON file in
 * the state directory. Writes go to a temporary file renamed over the old one, so a crash never
 * leaves half a file behind.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { DriverError } from './driver.ts';
import { RESOURCE_UNITS, parseUbcAmount, type VeStatus } from './protocol.ts';

export const STATE_FILE = 'sim-state.json';
const STATE_VERSION = 1;

/** vzctl's exit status for a value it cannot read. */
const VZ_BAD_PARAM = 21;

export interface SimVe {
  id: number;
  state: 'running' | 'stopped';
  template: string;
  address: string | null;
  hostname: string | null;
  nameservers: string[];
  searchdomain: string | null;
  /** ISO 8601; null while stopped. */
  startedAt: string | null;
  createdAt: string;
  /** Saved beancounter settings: resource → exact decimal barrier and limit. */
  limits: Record<string, { barrier: string; limit: string }>;
  /** Users provisioning made inside the VE: username → their one authorized public key. */
  users?: Record<string, string>;
}

export interface SimState {
  version: typeof STATE_VERSION;
  ves: Record<string, SimVe>;
}

export function emptyState(): SimState {
  return { version: STATE_VERSION, ves: {} };
}

/** Reads the state file; a missing file is a node with no VEs yet. */
export async function loadSimState(file: string): Promise<SimState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return emptyState();
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON: fix it or move it away to start with no VEs`);
  }
  if (!isState(parsed)) {
    throw new Error(`${file} is not a sim state file (version ${STATE_VERSION}): move it away`);
  }
  return parsed;
}

export async function saveSimState(file: string, state: SimState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

function isState(value: unknown): value is SimState {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const record = value as Record<string, unknown>;
  return (
    record.version === STATE_VERSION &&
    typeof record.ves === 'object' &&
    record.ves !== null &&
    !Array.isArray(record.ves)
  );
}

export function statusOf(ve: SimVe): VeStatus {
  const running = ve.state === 'running';
  return {
    id: ve.id,
    state: ve.state,
    address: ve.address,
    hostname: ve.hostname,
    startedAt: running ? ve.startedAt : null,
  };
}

export function absent(id: number): VeStatus {
  return { id, state: 'absent', address: null, hostname: null, startedAt: null };
}

export function limitsOrThrow(limits: Record<string, string>): SimVe['limits'] {
  const parsed: SimVe['limits'] = {};
  for (const [resource, value] of Object.entries(limits)) {
    parsed[resource] = limitOrThrow(resource, value);
  }
  return parsed;
}

/** vzctl refuses a value it cannot read with 21 and this message. */
export function limitOrThrow(resource: string, value: string): { barrier: string; limit: string } {
  const unit = RESOURCE_UNITS[resource] ?? 'items';
  const [barrierText = '', limitText = barrierText, extra] = value.split(':');
  const barrier = parseUbcAmount(barrierText, unit);
  const limit = parseUbcAmount(limitText, unit);

  if (extra !== undefined || !('value' in barrier) || !('value' in limit)) {
    throw new DriverError(VZ_BAD_PARAM, [`Bad parameter for --${resource}: ${value}`]);
  }
  return { barrier: barrier.value.toString(), limit: limit.value.toString() };
}
