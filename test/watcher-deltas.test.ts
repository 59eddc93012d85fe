import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UbcRow, VeStatus } from '../agent/protocol.ts';
import { applyCooldown } from '../src/watcher/cooldown.ts';
import { computeDeltas } from '../src/watcher/deltas.ts';
import { resourceKey, type Baseline, type CooldownState, type Mute } from '../src/watcher/types.ts';

const T0 = '2024-05-01T10:00:00.000Z';

function row(ve: string, resource: string, failcnt: number, maxheld = 100): UbcRow {
  return { ve, resource, held: 50, maxheld, barrier: 200, limit: 220, failcnt };
}

function running(id: number, startedAt: string | null): VeStatus {
  return { id, state: 'running', address: null, hostname: null, startedAt };
}

function baselines(entries: Array<[string, string, Baseline]>): Map<string, Baseline> {
  return new Map(entries.map(([ve, resource, baseline]) => [resourceKey(ve, resource), baseline]));
}

describe('computeDeltas', () => {
  it('stores a first poll as baseline and reports nothing, however high the counters', () => {
    const result = computeDeltas(new Map(), [row('101', 'numproc', 36)], [running(101, T0)]);

    assert.deepEqual(result.growth, []);
    assert.equal(result.firstSeen, 1);
    assert.deepEqual(result.baselines.get(resourceKey('101', 'numproc')), {
      failcnt: 36, maxheld: 100, startedAt: T0,
    });
  });

  it('reports growth per resource, not the absolute value', () => {
    const old = baselines([
      ['101', 'numproc', { failcnt: 36, maxheld: 100, startedAt: T0 }],
      ['101', 'numfile', { failcnt: 4, maxheld: 100, startedAt: T0 }],
    ]);
    const rows = [row('101', 'numproc', 40), row('101', 'numfile', 4)];
    const result = computeDeltas(old, rows, [running(101, T0)]);

    assert.deepEqual(result.growth.map((g) => [g.resource, g.delta]), [['numproc', 4]]);
    assert.deepEqual(result.resets, []);
  });

  it('treats a falling failcnt as a silent reset and reports later growth in full', () => {
    const old = baselines([['101', 'numproc', { failcnt: 36, maxheld: 100, startedAt: T0 }]]);
    const afterReset = computeDeltas(old, [row('101', 'numproc', 0, 10)], [running(101, T0)]);

    assert.deepEqual(afterReset.growth, []);
    assert.deepEqual(afterReset.resets, [
      { ve: '101', reason: 'failcnt fell', resource: 'numproc' },
    ]);

    const later = computeDeltas(afterReset.baselines, [row('101', 'numproc', 7, 10)], []);
    assert.deepEqual(later.growth.map((g) => g.delta), [7]);
  });

  it('counts a restart with a new start time and lower maxheld from zero', () => {
    // failcnt climbed back past the old value between two polls: vzubc would say +4.
    const old = baselines([['101', 'privvmpages', { failcnt: 36, maxheld: 900, startedAt: T0 }]]);
    const restarted = '2024-05-01T10:05:00.000Z';
    const rows = [row('101', 'privvmpages', 40, 80)];
    const result = computeDeltas(old, rows, [running(101, restarted)]);

    assert.deepEqual(result.growth.map((g) => g.delta), [40]);
    assert.deepEqual(result.resets, [
      { ve: '101', reason: 'new start time', resource: 'privvmpages' },
    ]);
    assert.equal(result.baselines.get(resourceKey('101', 'privvmpages'))?.startedAt, restarted);
  });

  it('rebases every row of a restarted VE, even the one whose maxheld stayed at its limit', () => {
    // numproc sat at its limit before and after the restart; only the other rows fell.
    const old = baselines([
      ['101', 'numproc', { failcnt: 36, maxheld: 220, startedAt: T0 }],
      ['101', 'numfile', { failcnt: 0, maxheld: 180, startedAt: T0 }],
    ]);
    const rows = [row('101', 'numproc', 40, 220), row('101', 'numfile', 0, 30)];
    const restarted = computeDeltas(old, rows, [running(101, '2024-05-01T10:30:00.000Z')]);
    assert.deepEqual(restarted.growth.map((g) => [g.resource, g.delta]), [['numproc', 40]]);

    // Without a start time, the fallen maxheld of another row is evidence enough.
    const unknown = computeDeltas(old, rows, []);
    assert.deepEqual(unknown.growth.map((g) => [g.resource, g.delta]), [['numproc', 40]]);
    assert.deepEqual(unknown.resets, [{ ve: '101', reason: 'maxheld fell', resource: 'numfile' }]);
  });

  it('rebases only the VE that restarted', () => {
    const old = baselines([
      ['101', 'numproc', { failcnt: 5, maxheld: 100, startedAt: T0 }],
      ['102', 'numproc', { failcnt: 5, maxheld: 100, startedAt: T0 }],
    ]);
    const rows = [row('101', 'numproc', 7, 40), row('102', 'numproc', 7, 100)];
    const result = computeDeltas(old, rows, [
      running(101, '2024-05-01T11:00:00.000Z'),
      running(102, T0),
    ]);

    assert.deepEqual(result.growth.map((g) => [g.ve, g.delta]), [['101', 7], ['102', 2]]);
  });

  it('goes on counting when the beancounter outlived a restart (nothing fell)', () => {
    // A time-wait bucket kept it alive, or the kernel keeps counters: 36 is not new growth.
    const old = baselines([
      ['101', 'numproc', { failcnt: 36, maxheld: 100, startedAt: T0 }],
      ['101', 'numfile', { failcnt: 0, maxheld: 180, startedAt: T0 }],
    ]);
    const restarted = '2024-05-01T11:00:00.000Z';
    const same = computeDeltas(old,
      [row('101', 'numproc', 36, 100), row('101', 'numfile', 0, 180)],
      [running(101, restarted)]);
    assert.deepEqual(same.growth, []);
    assert.deepEqual(same.resets, []);
    assert.equal(same.baselines.get(resourceKey('101', 'numproc'))?.startedAt, restarted);

    const grew = computeDeltas(old,
      [row('101', 'numproc', 41, 100), row('101', 'numfile', 0, 180)],
      [running(101, restarted)]);
    assert.deepEqual(grew.growth.map((g) => [g.resource, g.delta]), [['numproc', 5]]);
  });

  it('ignores start-time jitter of a few seconds', () => {
    const old = baselines([['101', 'numproc', { failcnt: 3, maxheld: 100, startedAt: T0 }]]);
    const result = computeDeltas(old, [row('101', 'numproc', 5, 100)], [
      running(101, '2024-05-01T10:00:02.000Z'),
    ]);

    assert.deepEqual(result.growth.map((g) => g.delta), [2]);
    assert.deepEqual(result.resets, []);
  });

  it('takes an unknown start time as no evidence of a restart', () => {
    const old = baselines([['101', 'numproc', { failcnt: 3, maxheld: 100, startedAt: T0 }]]);
    const result = computeDeltas(old, [row('101', 'numproc', 5, 100)], []);

    assert.deepEqual(result.growth.map((g) => g.delta), [2]);
    assert.equal(result.baselines.get(resourceKey('101', 'numproc'))?.startedAt, null);
  });

  it('compares an unlimited maxheld as larger than any number', () => {
    const kept: Baseline = { failcnt: 3, maxheld: 'unlimited', startedAt: T0 };
    const old = baselines([['101', 'numproc', kept]]);
    const result = computeDeltas(old, [row('101', 'numproc', 5, 90)], [running(101, T0)]);

    assert.deepEqual(result.growth.map((g) => g.delta), [5]);
    assert.deepEqual(result.resets.map((r) => r.reason), ['maxheld fell']);
  });
});

describe('applyCooldown', () => {
  const key = resourceKey('101', 'numproc');
  const none = new Map<string, Mute>();
  const minute = 60_000;

  it('sends the first growth and starts the cooldown', () => {
    const result = applyCooldown({
      growth: [{ ve: '101', resource: 'numproc', delta: 2 }],
      states: new Map(), present: new Set([key]), mutes: none, now: 1000, cooldownMs: 15 * minute,
    });

    assert.deepEqual(result.send, [{ ve: '101', resource: 'numproc', delta: 2 }]);
    assert.deepEqual(result.states.get(key), { lastSentAt: 1000, heldBack: 0 });
  });

  it('holds growth back during the cooldown and sums it into the next alert', () => {
    const states = new Map<string, CooldownState>([[key, { lastSentAt: 0, heldBack: 0 }]]);
    const held = applyCooldown({
      growth: [{ ve: '101', resource: 'numproc', delta: 3 }],
      states, present: new Set([key]), mutes: none, now: 5 * minute, cooldownMs: 15 * minute,
    });
    assert.deepEqual(held.send, []);
    assert.deepEqual(held.states.get(key), { lastSentAt: 0, heldBack: 3 });

    const sent = applyCooldown({
      growth: [{ ve: '101', resource: 'numproc', delta: 1 }],
      states: held.states, present: new Set([key]), mutes: none, now: 16 * minute,
      cooldownMs: 15 * minute,
    });
    assert.deepEqual(sent.send, [{ ve: '101', resource: 'numproc', delta: 4 }]);
    assert.deepEqual(sent.states.get(key), { lastSentAt: 16 * minute, heldBack: 0 });
  });

  it('flushes held-back growth after the cooldown even without new growth', () => {
    const states = new Map<string, CooldownState>([[key, { lastSentAt: 0, heldBack: 3 }]]);
    const input = { growth: [], states, mutes: none, now: 16 * minute, cooldownMs: 15 * minute };

    assert.deepEqual(applyCooldown({ ...input, present: new Set<string>() }).send, []);
    assert.deepEqual(applyCooldown({ ...input, present: new Set([key]) }).send, [
      { ve: '101', resource: 'numproc', delta: 3 },
    ]);
  });

  it('drops growth of a muted VE and what it had held back, until the mute ends', () => {
    const states = new Map<string, CooldownState>([[key, { lastSentAt: 0, heldBack: 3 }]]);
    const mutes = new Map([['101', { ve: '101', until: 60 * minute, by: 'irc:crew' }]]);
    const muted = applyCooldown({
      growth: [{ ve: '101', resource: 'numproc', delta: 2 }],
      states, present: new Set([key]), mutes, now: 30 * minute, cooldownMs: 15 * minute,
    });
    assert.deepEqual(muted.send, []);
    assert.deepEqual(muted.muted, [{ ve: '101', resource: 'numproc', delta: 2 }]);
    assert.deepEqual(muted.states.get(key), { lastSentAt: 0, heldBack: 0 });

    const after = applyCooldown({
      growth: [{ ve: '101', resource: 'numproc', delta: 1 }],
      states: muted.states, present: new Set([key]), mutes, now: 61 * minute,
      cooldownMs: 15 * minute,
    });
    assert.deepEqual(after.send, [{ ve: '101', resource: 'numproc', delta: 1 }]);
  });
});
