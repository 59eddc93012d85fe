/**
 * One beancounter poll as the bot runs it: the watcher's SQLite store on the bot's own database
 * file (migrations, WAL), owners looked up in the VE table, 1000 managed VEs × 20 resources.
 * The node answers `ubc` and `list` from prepared JSON text, decoded per call as the agent
 * client decodes an answer line; the agent's own work is measured in the other sections.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { formatBeancounters, parseBeancounters } from '../agent/beancounters.ts';
import type { Reply } from '../adapters/types.ts';
import type { UbcRow, VeStatus } from '../agent/protocol.ts';
import { silentLogger } from '../src/log.ts';
import { Store } from '../src/store/index.ts';
import { SqliteBaselineStore } from '../src/watcher/sqlite-store.ts';
import type { Notifier, WatchedNode } from '../src/watcher/types.ts';
import { BeancounterWatcher } from '../src/watcher/watcher.ts';
import { ownersFromStore } from '../src/watcher/wiring.ts';
import type { Figure } from './report.ts';
import { median, nowMs } from './stats.ts';
import { FIRST_VE, RESOURCES_PER_VE, syntheticBlocks } from './synthetic.ts';

const SECTION = 'watcher';
const NODE = 'node1';
export const WATCHED_VES = 1000;
const STEADY_POLLS = 7;
/** Rows whose failcnt grows between two polls: a busy afternoon, 0.5% of all rows. */
const GROWING_ROWS = 100;
/** Further apart than the cooldown, so every growth is sent and none is held back. */
const POLL_SPACING_MS = 2 * 60 * 60 * 1000;

class CountingNotifier implements Notifier {
  channel = 0;
  owners = 0;

  async toAlerts(_reply: Reply): Promise<void> {
    this.channel += 1;
  }

  async toUser(_identity: string, _reply: Reply): Promise<void> {
    this.owners += 1;
  }
}

/** 1000 requests and their active VEs, owned by 1000 students, in one transaction. */
function seedVes(store: Store, at: string): void {
  store.transaction(() => {
    for (let index = 0; index < WATCHED_VES; index += 1) {
      const owner = `irc:student${index}`;
      const username = `student${index}`;
      const template = 'debian-12-x86_64';
      const request = store.requests.insert({
        requester: owner, username, template, at, origin: null,
      });
      store.ves.insert({
        id: FIRST_VE + index, node: NODE, owner, username, template,
        requestId: request.id, createdAt: at,
      });
    }
  });
}

export async function measureWatcher(): Promise<Figure[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-bench-watcher-'));
  const store = Store.open(path.join(dir, 'crewvz.db'));
  try {
    return await pollMany(store);
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function pollMany(store: Store): Promise<Figure[]> {
  const clock = { now: Date.parse('2025-03-01T08:00:00Z') };
  seedVes(store, new Date(clock.now).toISOString());

  const rows: UbcRow[] = parseBeancounters(formatBeancounters(syntheticBlocks(WATCHED_VES)));
  const statuses: VeStatus[] = Array.from({ length: WATCHED_VES }, (_, index) => ({
    id: FIRST_VE + index, state: 'running', address: null, hostname: null,
    startedAt: '2025-03-01T00:00:00.000Z',
  }));
  const answers = { ubc: JSON.stringify(rows), list: JSON.stringify(statuses) };
  const node: WatchedNode = {
    name: NODE,
    call: async (command) => JSON.parse(command === 'ubc' ? answers.ubc : answers.list),
  };
  const notifier = new CountingNotifier();
  const watcher = new BeancounterWatcher({
    store: new SqliteBaselineStore(store.db),
    nodes: { nodes: () => [node] },
    owners: ownersFromStore(store),
    notifier,
    logger: silentLogger(),
    now: () => clock.now,
  });

  const timePoll = async (): Promise<number> => {
    const started = nowMs();
    await watcher.pollOnce();
    return nowMs() - started;
  };
  const first = await timePoll();

  const steady: number[] = [];
  for (let poll = 1; poll <= STEADY_POLLS; poll += 1) {
    for (let index = 0; index < GROWING_ROWS; index += 1) {
      const grown = rows[(index * 197 + poll * 13) % rows.length] as UbcRow;
      grown.failcnt += 1 + poll;
    }
    answers.ubc = JSON.stringify(rows);
    clock.now += POLL_SPACING_MS;
    steady.push(await timePoll());
  }
  checkWorkDone(store, notifier);

  return [
    { key: 'watcher.first', section: SECTION,
      label: `first poll, ${WATCHED_VES} VEs × ${RESOURCES_PER_VE} (all baselines new)`,
      value: first, unit: 'ms' },
    { key: 'watcher.steady', section: SECTION,
      label: `poll with ${GROWING_ROWS} rows grown, median of ${STEADY_POLLS}`,
      value: median(steady), unit: 'ms' },
  ];
}

/** A poll that quietly did nothing would look fast: make sure it stored and alerted. */
function checkWorkDone(store: Store, notifier: CountingNotifier): void {
  const count = (sql: string, value: string): number =>
    (store.db.prepare(sql).get(value) as { n: number }).n;
  const baselines = count('SELECT COUNT(*) AS n FROM watcher_baselines WHERE node = ?', NODE);
  const growth = count('SELECT COUNT(*) AS n FROM watcher_alerts WHERE kind = ?', 'growth');
  const expected = WATCHED_VES * RESOURCES_PER_VE;

  if (baselines !== expected) {
    throw new Error(`the watcher stored ${baselines} baselines, expected ${expected}`);
  }
  if (growth === 0 || notifier.owners === 0 || notifier.channel !== STEADY_POLLS) {
    const seen = `${growth} growth alerts, ${notifier.owners} owner messages`;
    throw new Error(`the watcher did not alert on the grown rows (${seen})`);
  }
}
