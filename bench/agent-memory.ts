/**
 * The agent's resident memory (VmRSS of the child, as `ps` and the OOM killer see it): idle,
 * with 50 bot links open at once (a node serving many bots, or a bot that leaks links), and
 * after all the load of this run.
 */
import { AgentClient } from '../src/agent-client.ts';
import { silentLogger } from '../src/log.ts';
import { NODE_NAME, type BenchPki } from './agent-child.ts';
import type { Figure } from './report.ts';
import { MIB, residentBytes } from './stats.ts';

const SECTION = 'memory';
export const OPEN_LINKS = 50;
/** Lets the agent finish its work and the allocator settle before RSS is read. */
const SETTLE_MS = 500;
/**
 * Links dialled at once. The agent refuses an address with too many handshakes in progress (a
 * flood guard), and bots on one address connect one or a few at a time anyway.
 */
const DIAL_BATCH = 8;

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

export async function agentRss(pid: number, key: string, label: string): Promise<Figure> {
  await settle();
  return { key, section: SECTION, label, value: (await residentBytes(pid)) / MIB, unit: 'MiB' };
}

/** Opens OPEN_LINKS links, each answering a ping, reads RSS with all of them open, closes them. */
export async function agentRssWithLinks(
  pid: number,
  port: number,
  pki: BenchPki,
  idleMib: number,
): Promise<Figure[]> {
  const clients = Array.from(
    { length: OPEN_LINKS },
    () =>
      new AgentClient({
        name: NODE_NAME,
        address: `127.0.0.1:${port}`,
        tls: pki.bot,
        logger: silentLogger(),
      }),
  );

  try {
    for (let first = 0; first < clients.length; first += DIAL_BATCH) {
      const batch = clients.slice(first, first + DIAL_BATCH);
      await Promise.all(batch.map((client) => client.call('ping', [])));
    }
    const open = await agentRss(pid, 'memory.agent.links', `agent RSS, ${OPEN_LINKS} links open`);
    const perLink = ((open.value - idleMib) * 1024) / OPEN_LINKS;
    return [
      open,
      { key: 'memory.agent.perLink', section: SECTION, label: 'agent RSS per open link',
        value: perLink, unit: 'KiB' },
    ];
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}
