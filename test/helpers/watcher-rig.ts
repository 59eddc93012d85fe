/**
 * A test rig for the beancounter watcher: nodes whose `ubc` answer is parsed from a real
 * beancounters file on disk (and `list` from a JSON file), rewritten by the test between polls,
 * a real SQLite file for the store, and a notifier that records what would reach chat. The
 * agent itself is left out here; the node answers as the agent's `ubc` and `list` would.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  formatBeancounters,
  LONG_MAX_64,
  parseBeancounterBlocks,
  parseBeancounters,
  type BeancounterBlock,
  type BeancounterRow,
} from '../../agent/beancounters.ts';
import type { Reply } from '../../adapters/types.ts';
import type { VeStatus } from '../../agent/protocol.ts';
import { NodeUnreachableError } from '../../src/agent-client.ts';
import { silentLogger } from '../../src/log.ts';
import { SqliteBaselineStore, WATCHER_MIGRATION_SQL } from '../../src/watcher/sqlite-store.ts';
import type { Notifier, Ownership, WatchedNode } from '../../src/watcher/types.ts';
import { BeancounterWatcher, type WatcherOptions } from '../../src/watcher/watcher.ts';

export const FIXTURES = new URL('../fixtures/beancounters/', import.meta.url);
export const SAMPLE_PATH = new URL('inside-ve-32bit.txt', FIXTURES);
export const START = '2024-05-01T10:00:00.000Z';

/** The wiki's CT 123 rows (32-bit unlimited values), copied for a VE of another ID. */
export function sampleBlock(id: string): BeancounterBlock {
  const [block] = parseBeancounterBlocks(readFileSync(SAMPLE_PATH, 'utf8'));
  return { id, rows: block.rows.map((row) => ({ ...row })) };
}

/** A host block as a 64-bit kernel prints it: its own usage, LONG_MAX limits. */
function hostBlock(): BeancounterBlock {
  const rows = sampleBlock('0').rows.map((row) => ({
    ...row, barrier: LONG_MAX_64, limit: LONG_MAX_64, failcnt: 5n,
  }));
  return { id: '0', rows };
}

export interface Gauge {
  active: number;
  max: number;
}

export class FileNode implements WatchedNode {
  readonly ubcPath: string;
  readonly listPath: string;
  readonly blocks: BeancounterBlock[];
  readonly statuses: VeStatus[];
  down = false;
  /** Replaces the `ubc` answer, to play an agent that answers nonsense. */
  ubcAnswer: unknown = undefined;
  delayMs = 0;
  ubcCalls = 0;

  /** `gauge` counts `ubc` calls running at once, shared between nodes to check concurrency. */
  constructor(
    readonly name: string,
    dir: string,
    ves: readonly string[],
    readonly gauge: Gauge = { active: 0, max: 0 },
  ) {
    this.ubcPath = join(dir, `${name}.user_beancounters`);
    this.listPath = join(dir, `${name}.list.json`);
    // The host block first: the kernel does not promise an order.
    this.blocks = [hostBlock(), ...ves.map(sampleBlock)];
    this.statuses = ves.filter((ve) => /^[0-9]+$/.test(ve)).map((ve) => ({
      id: Number(ve), state: 'running', address: null, hostname: null, startedAt: START,
    }));
  }

  /**
   * A node whose beancounters start as one of the fixture files. `list` knows the numeric IDs
   * only, as with named (OpenVZ 7) beancounters whose VE IDs the agent does not map.
   */
  static fromFixture(name: string, dir: string, file: string): FileNode {
    const node = new FileNode(name, dir, []);
    const blocks = parseBeancounterBlocks(readFileSync(new URL(file, FIXTURES), 'utf8'));
    node.blocks.splice(0, node.blocks.length, ...blocks);
    const ids = blocks.map((block) => block.id).filter((id) => /^[1-9][0-9]*$/.test(id));
    node.statuses.push(...ids.map((id): VeStatus => ({
      id: Number(id), state: 'running', address: null, hostname: null, startedAt: START,
    })));
    return node;
  }

  row(ve: string, resource: string): BeancounterRow {
    const block = this.blocks.find((candidate) => candidate.id === ve);
    const found = block?.rows.find((candidate) => candidate.resource === resource);
    if (!found) {
      throw new Error(`no ${resource} row for VE ${ve}`);
    }
    return found;
  }

  /** A VE appears on the node (vzctl create), running since `startedAt`. */
  addVe(ve: string, startedAt = START): void {
    this.blocks.push(sampleBlock(ve));
    this.statuses.push({
      id: Number(ve), state: 'running', address: null, hostname: null, startedAt,
    });
  }

  /** A VE is destroyed: neither `ubc` nor `list` reports it any more. */
  removeVe(ve: string): void {
    this.blocks.splice(this.blocks.findIndex((block) => block.id === ve), 1);
    this.statuses.splice(this.statuses.findIndex((status) => String(status.id) === ve), 1);
  }

  /** Adds to a failcnt, as the kernel does on each refused allocation. */
  grow(ve: string, resource: string, by: number): void {
    const row = this.row(ve, resource);
    row.failcnt = BigInt(row.failcnt) + BigInt(by);
  }

  /** A VE restart that its beancounter outlives: only the start time changes. */
  keepCountersAcrossRestart(ve: string, startedAt: string): void {
    const status = this.statuses.find((candidate) => String(candidate.id) === ve);
    if (status) {
      status.startedAt = startedAt;
    }
  }

  /**
   * A VE restart on a kernel that resets counters: failcnt drops to 0, a new start time, and
   * maxheld drops to held, except for the resources in `atLimit`, which the restarted VE ran
   * into its limit again before the poll (their maxheld stays at the limit).
   */
  restart(ve: string, startedAt: string, atLimit: readonly string[] = []): void {
    for (const row of this.blocks.find((block) => block.id === ve)?.rows ?? []) {
      row.failcnt = 0n;
      if (atLimit.includes(row.resource)) {
        row.held = row.limit;
        row.maxheld = row.limit;
      } else {
        row.maxheld = row.held;
      }
    }
    const status = this.statuses.find((candidate) => String(candidate.id) === ve);
    if (status) {
      status.startedAt = startedAt;
    }
  }

  async write(): Promise<void> {
    await writeFile(this.ubcPath, formatBeancounters(this.blocks));
    await writeFile(this.listPath, JSON.stringify(this.statuses));
  }

  call = async (command: string): Promise<unknown> => {
    const counted = command === 'ubc';
    if (counted) {
      this.ubcCalls += 1;
      this.gauge.active += 1;
      this.gauge.max = Math.max(this.gauge.max, this.gauge.active);
    }
    try {
      if (this.delayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      }
      if (this.down) {
        throw new NodeUnreachableError(this.name, 'connect ECONNREFUSED');
      }
      if (command === 'ubc' && this.ubcAnswer !== undefined) {
        return this.ubcAnswer;
      }
      if (command === 'ubc') {
        return parseBeancounters(await readFile(this.ubcPath, 'utf8'));
      }
      if (command === 'list') {
        return JSON.parse(await readFile(this.listPath, 'utf8')) as unknown;
      }
      throw new Error(`the watcher has no business calling ${command}`);
    } finally {
      if (counted) {
        this.gauge.active -= 1;
      }
    }
  };
}

export interface Sent {
  to: string;
  lines: string[];
}

export class RecordingNotifier implements Notifier {
  sent: Sent[] = [];

  async toAlerts(reply: Reply): Promise<void> {
    this.sent.push({ to: 'alerts', lines: reply.lines });
  }

  async toUser(identity: string, reply: Reply): Promise<void> {
    this.sent.push({ to: identity, lines: reply.lines });
  }

  /** Everything sent since the last take. */
  take(): Sent[] {
    const taken = this.sent;
    this.sent = [];
    return taken;
  }
}

export interface Rig {
  db: Database.Database;
  store: SqliteBaselineStore;
  watcher: BeancounterWatcher;
  notifier: RecordingNotifier;
  owners: Map<string, string>;
  /** VEs whose request is still approved or provisioning, with their requester. */
  creating: Map<string, string>;
  clock: { now: number };
  close(): Promise<void>;
}

/**
 * A watcher on the SQLite file `dbPath`, which gets the migration when `migrate` is set.
 * VEs missing from `owners` are unmanaged.
 */
export function startRig(
  dbPath: string,
  nodes: readonly FileNode[],
  options: { migrate?: boolean; clock?: { now: number } } & Partial<WatcherOptions> = {},
): Rig {
  const db = new Database(dbPath);
  if (options.migrate ?? true) {
    db.exec(WATCHER_MIGRATION_SQL);
  }
  const store = new SqliteBaselineStore(db);
  const notifier = new RecordingNotifier();
  const owners = new Map<string, string>();
  const creating = new Map<string, string>();
  const clock = options.clock ?? { now: Date.parse(START) };
  const watcher = new BeancounterWatcher({
    store,
    nodes: { nodes: () => nodes },
    owners: { ownership: (_node, ve) => ownershipOf(ve, owners, creating) },
    notifier,
    logger: silentLogger(),
    now: () => clock.now,
    ...options,
  });
  return {
    db, store, watcher, notifier, owners, creating, clock,
    async close() {
      await watcher.stop();
      db.close();
    },
  };
}

function ownershipOf(
  ve: string,
  owners: ReadonlyMap<string, string>,
  creating: ReadonlyMap<string, string>,
): Ownership {
  const owner = owners.get(ve);
  if (owner !== undefined) {
    return { state: 'active', owner };
  }
  const requester = creating.get(ve);
  return requester === undefined ? { state: 'unmanaged' } : { state: 'creating', owner: requester };
}
