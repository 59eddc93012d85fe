import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseBeancounters } from '../agent/beancounters.ts';
import type { UbcRow } from '../agent/protocol.ts';
import { meaningOf, suggestCommand, suggestLimits } from '../src/watcher/advice.ts';
import { backLines, channelLines, ownerLines, type AlertItem } from '../src/watcher/messages.ts';

// Sample A of the OpenVZ wiki: CT 123 on a 32-bit kernel, where unlimited is 2147483647.
const SAMPLE = readFileSync(
  new URL('./fixtures/beancounters/inside-ve-32bit.txt', import.meta.url),
  'utf8',
);
const rows = parseBeancounters(SAMPLE);

function sample(resource: string): UbcRow {
  const found = rows.find((row) => row.resource === resource);
  assert.ok(found, `sample has ${resource}`);
  return found;
}

function item(resource: string, delta: number, owner: string | null = 'irc:alice'): AlertItem {
  const row = sample(resource);
  return { ve: row.ve, owner, resource, delta, row };
}

describe('suggestLimits', () => {
  it('raises a pages barrier by half and keeps the barrier-limit gap', () => {
    // 49152:53575 pages; the barrier rounds to whole MiB, the gap of 4423 pages stays.
    assert.deepEqual(suggestLimits(sample('privvmpages')), { barrier: '73728', limit: '78151' });
  });

  it('keeps barrier = limit for items such as numproc', () => {
    assert.deepEqual(suggestLimits(sample('numproc')), { barrier: '98', limit: '98' });
  });

  it('rounds bytes to whole KiB and keeps kmemsize gap', () => {
    assert.deepEqual(suggestLimits(sample('kmemsize')), { barrier: '4128768', limit: '4312268' });
  });

  it('adds a gap where equal barrier and limit are harmful', () => {
    const flat: UbcRow = { ...sample('dcachesize'), barrier: 1048576, limit: 1048576 };
    assert.deepEqual(suggestLimits(flat), { barrier: '1572864', limit: '1730560' });
  });

  it('keeps an unlimited limit as the word unlimited, never LONG_MAX', () => {
    const expected = { barrier: '9216', limit: 'unlimited' };
    assert.deepEqual(suggestLimits(sample('oomguarpages')), expected);
  });

  it('has nothing to raise when nothing caps the resource', () => {
    assert.equal(suggestLimits(sample('physpages')), null);
    assert.equal(suggestCommand(sample('physpages')), null);
  });

  it('turns values past what a double holds exactly into unlimited', () => {
    const huge: UbcRow = { ...sample('kmemsize'), barrier: 8e15, limit: 8.5e15 };
    assert.deepEqual(suggestLimits(huge), { barrier: 'unlimited', limit: 'unlimited' });
  });

  it('keeps a gap where only the limit counts, for resources that need one', () => {
    const overBarrier: UbcRow = { ...sample('kmemsize'), barrier: 'unlimited', limit: 5000000 };
    assert.deepEqual(suggestLimits(overBarrier), { barrier: '7500800', limit: '8251392' });
    const above: UbcRow = { ...sample('numflock'), barrier: 300, limit: 200 };
    assert.deepEqual(suggestLimits(above), { barrier: '300', limit: '330' });
    const items: UbcRow = { ...sample('numproc'), barrier: 'unlimited', limit: 100 };
    assert.deepEqual(suggestLimits(items), { barrier: '150', limit: '150' });
  });

  it('stays within 2147483647 unless the row shows a 64-bit kernel', () => {
    const near: UbcRow = { ...sample('tcpsndbuf'), barrier: 1800000000, limit: 1900000000 };
    const suggestion = suggestLimits(near);
    assert.deepEqual(suggestion, { barrier: '2047483647', limit: '2147483647' });

    const wide: UbcRow = { ...near, held: 3000000000, maxheld: 3000000000 };
    assert.deepEqual(suggestLimits(wide), { barrier: '2700000256', limit: '2800000256' });
    const lone: UbcRow = { ...sample('oomguarpages'), barrier: 2000000000 };
    assert.deepEqual(suggestLimits(lone), { barrier: '2147483647', limit: 'unlimited' });
  });

  it('has nothing to scale from a limit of 0, and says so', () => {
    const noSwap: UbcRow = { ...sample('physpages'), resource: 'swappages', barrier: 0, limit: 0 };
    assert.equal(suggestLimits(noSwap), null);
    const told = ownerLines('node1', [{ ...item('physpages', 1), resource: 'swappages',
      row: noSwap }]).join('\n');
    assert.match(told, /limit is 0 .*ask the crew which value to set/);
    assert.doesNotMatch(told, /unlimited already|!ve set/);
  });

  it('writes the exact !ve set command', () => {
    assert.equal(suggestCommand(sample('numfile')), '!ve set 123 numfile 3072:3072');
  });
});

describe('channelLines', () => {
  it('lists every VE and resource that grew in one message, with human units', () => {
    const other: AlertItem = { ...item('numproc', 1, null), ve: '7' };
    const lines = channelLines('node1', [item('privvmpages', 3), item('numproc', 2), other], []);

    assert.deepEqual(lines, [
      'Beancounters on node1: 2 VEs hit a limit since the last check.',
      'VE 7 (unmanaged): numproc +1 (held 20, barrier 65, limit 65)',
      'VE 123 (owner irc:alice): numproc +2 (held 20, barrier 65, limit 65)',
      'VE 123 (owner irc:alice): privvmpages +3 (held 18 MiB, barrier 192 MiB, limit 209 MiB)',
    ]);
  });

  it('shows unlimited values as unlimited', () => {
    const lines = channelLines('node1', [item('oomguarpages', 1)], []);
    assert.match(lines[1] ?? '', /limit unlimited\)$/);
    assert.doesNotMatch(lines.join('\n'), /2147483647/);
  });

  it('lists at most 10 items and 20 unmanaged VEs, then says how to see the rest', () => {
    const many = Array.from({ length: 13 }, (_, index) => ({ ...item('numproc', 1),
      ve: String(200 + index) }));
    const unmanaged = Array.from({ length: 25 }, (_, index) => String(300 + index));
    const lines = channelLines('node1', many, unmanaged, 38);

    assert.equal(lines.length, 1 + 10 + 1 + 1);
    assert.equal(lines[11], '…and 3 more: !alerts 38 shows them all.');
    assert.match(lines[12] ?? '', /manage: 300, 301, .*, 319 and 5 more\.$/);
  });

  it('names newly found unmanaged VEs, and says nothing when nothing happened', () => {
    assert.deepEqual(channelLines('node1', [], ['204', '31']), [
      'VEs on node1 that the bot does not manage: 31, 204.',
    ]);
    assert.deepEqual(channelLines('node1', [], []), []);
  });
});

describe('ownerLines', () => {
  it('explains in plain words what ran out and what a crew member could run', () => {
    const lines = ownerLines('node1', [item('privvmpages', 3), item('physpages', 1)]);

    assert.equal(lines[0], 'Your VE 123 on node1 ran out of something since the last check:');
    assert.match(lines[1] ?? '', /^- RAM \(physpages\) ran out once/);
    assert.match(lines[2] ?? '', /unlimited already/);
    assert.match(lines[3] ?? '', /^- memory your programs may allocate \(privvmpages\) ran out 3/);
    assert.equal(
      lines[4],
      '  Ask the crew to raise it; a crew member could run: ' +
        '!ve set 123 privvmpages 73728:78151 (288 MiB:305 MiB)',
    );
  });

  it('explains 2 items in full, and sums 3 into a summary', () => {
    const two = ownerLines('node1', [item('numproc', 1), item('numfile', 1)]);
    assert.equal(two.filter((line) => line.includes('!ve set 123')).length, 2);
    const three = ownerLines('node1', [item('numproc', 1), item('numfile', 1),
      item('numtcpsock', 1)]);
    assert.equal(three.length, 5);
    assert.doesNotMatch(three.join('\n'), /!ve set/);
  });

  it('sums more than 2 items into a few lines per owner', () => {
    const resources = ['numproc', 'numfile', 'kmemsize', 'privvmpages', 'numtcpsock'];
    const items = resources.map((resource) => item(resource, 2));
    const lines = ownerLines('node1', [...items, { ...item('numproc', 1), ve: '124' }]);

    assert.deepEqual(lines, [
      'Your VEs 123, 124 on node1 ran out of something since the last check:',
      '- kernel memory for your processes (kmemsize) ran out 2 times on VE 123: the kernel' +
        ' refused work for your processes (each needs some kernel memory).',
      '- open files (numfile) ran out 2 times on VE 123: programs could not open more files.',
      '- processes (numproc) ran out 3 times on 2 VEs: new processes or threads could not be' +
        ' started.',
      '- and 2 more resources.',
      "  Ask the crew to raise what ran out; !ve ubc ID shows a VE's values and limits.",
    ]);
  });

  it('has a plain meaning for every resource of the sample', () => {
    for (const row of rows) {
      assert.notEqual(meaningOf(row.resource).what, row.resource, row.resource);
    }
  });
});

describe('backLines', () => {
  it('says how long the node was away', () => {
    assert.deepEqual(backLines('node1', 0, 5 * 60_000), [
      'Node node1 answers again after 5 minutes; beancounter alerts for it resume.',
    ]);
  });
});
