/**
 * The default limits profile, read as vzctl reads it: every barrier at most its limit, the
 * OpenVZ wiki's relations between resources, and room for what the profile is sized for
 * (PostgreSQL's shared memory with its default settings).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULT_LIMITS } from '../agent/limits.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
const PAGE = 4096;
const UNLIMITED = Number.POSITIVE_INFINITY;
const SUFFIX: Record<string, number> = { '': 1, K: KIB, M: MIB, G: 1024 * MIB };

/** One `barrier:limit` side in bytes for the byte and page resources, items otherwise. */
function amount(resource: string, text: string): number {
  if (text === 'unlimited') {
    return UNLIMITED;
  }
  const match = /^(\d+)([KMG]?)$/.exec(text);
  assert.ok(match, `${resource}: ${text} is not vzctl's spelling`);
  const value = Number(match[1]) * (SUFFIX[match[2] ?? ''] ?? 1);
  // Without a suffix a *pages value counts pages; with one it is a size.
  return resource.endsWith('pages') && match[2] === '' ? value * PAGE : value;
}

function setting(resource: string): { barrier: number; limit: number } {
  const value = DEFAULT_LIMITS[resource];
  assert.ok(value, `${resource} is in the profile`);
  const [barrier = '', limit = barrier] = value.split(':');
  return { barrier: amount(resource, barrier), limit: amount(resource, limit) };
}

describe('the default limits profile', () => {
  it('has every barrier at most its limit', () => {
    for (const resource of Object.keys(DEFAULT_LIMITS)) {
      const { barrier, limit } = setting(resource);
      assert.ok(barrier <= limit, `${resource}: barrier ${barrier} > limit ${limit}`);
    }
  });

  it('keeps the wiki relations between buffers, sockets, processes and kernel memory', () => {
    const numtcpsock = setting('numtcpsock').limit;
    const numothersock = setting('numothersock').limit;
    for (const [buffer, sockets] of [
      ['tcpsndbuf', numtcpsock],
      ['tcprcvbuf', numtcpsock],
      ['othersockbuf', numothersock],
    ] as const) {
      const { barrier, limit } = setting(buffer);
      assert.ok(limit - barrier >= sockets * 2.5 * KIB, `${buffer}: gap below sockets × 2.5 KiB`);
    }
    const kernel = 40 * KIB * setting('numproc').limit + setting('dcachesize').limit;
    assert.ok(setting('kmemsize').barrier >= kernel, 'kmemsize below 40 KiB × numproc + dcache');
  });

  it("holds PostgreSQL's shared memory with its default settings, inside privvmpages", () => {
    // shared_buffers 128 MiB by default; WAL buffers, the lock table and per-backend slots
    // bring the segment to about 145 MiB. tmpfs (/dev/shm, /run) shares the same count.
    const postgres = 145 * MIB;
    const shm = setting('shmpages');

    assert.ok(shm.barrier >= postgres, `shmpages ${shm.barrier / MIB} MiB < PostgreSQL's`);
    assert.equal(shm.barrier, shm.limit, 'a shared segment is allocated whole: no soft zone');
    assert.ok(shm.limit < setting('privvmpages').barrier, 'shmpages fits inside privvmpages');
  });
});
