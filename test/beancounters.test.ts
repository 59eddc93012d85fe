import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BeancounterParseError,
  formatBeancounters,
  parseBeancounterBlocks,
  parseBeancounterResources,
  parseBeancounters,
} from '../agent/beancounters.ts';
import type { UbcRow } from '../agent/protocol.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/beancounters');
const COMPAT_RESOURCES = 20;

function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

function row(rows: UbcRow[], ve: string, resource: string): UbcRow {
  const found = rows.find((candidate) => candidate.ve === ve && candidate.resource === resource);
  assert.ok(found, `no row ${ve}/${resource}`);
  return found;
}

function ves(rows: UbcRow[]): string[] {
  return [...new Set(rows.map((candidate) => candidate.ve))];
}

describe('parseBeancounters on real files', () => {
  it('reads a 32-bit file from inside a VE: uid once, no dummy rows, 2147483647 unlimited', () => {
    const rows = parseBeancounters(fixture('inside-ve-32bit.txt'));
    assert.equal(rows.length, COMPAT_RESOURCES);
    assert.deepEqual(ves(rows), ['123']);
    assert.ok(rows.every((candidate) => candidate.resource !== 'dummy'));
    assert.deepEqual(row(rows, '123', 'kmemsize'), {
      ve: '123',
      resource: 'kmemsize',
      held: 836919,
      maxheld: 1005343,
      barrier: 2752512,
      limit: 2936012,
      failcnt: 0,
    });
    assert.equal(row(rows, '123', 'physpages').limit, 'unlimited');
    assert.equal(row(rows, '123', 'numiptent').maxheld, 16);
  });

  it('reads the 64-bit file from inside a VE with 9223372036854775807 as unlimited', () => {
    const rows = parseBeancounters(fixture('inside-ve-64bit.txt'));
    assert.equal(rows.length, COMPAT_RESOURCES);
    assert.deepEqual(ves(rows), ['9833']);
    const physpages = row(rows, '9833', 'physpages');
    assert.deepEqual([physpages.barrier, physpages.limit], [131072, 'unlimited']);
    assert.equal(row(rows, '9833', 'tcpsndbuf').maxheld, 1266992);
  });

  it('leaves out the host block of a real node file', () => {
    assert.deepEqual(parseBeancounters(fixture('host-only-64bit.txt')), []);
    const blocks = parseBeancounterBlocks(fixture('host-only-64bit.txt'));
    assert.deepEqual(
      blocks.map((block) => [block.id, block.rows.length]),
      [['0', 24]],
    );
  });

  it('reads the rendered 331:kmemsize with no space and single-space headers', () => {
    const rows = parseBeancounters(fixture('virtuozzo-kb-nospace.txt'));
    assert.equal(rows.length, COMPAT_RESOURCES);
    assert.deepEqual(ves(rows), ['331']);
    assert.deepEqual(row(rows, '331', 'kmemsize'), {
      ve: '331',
      resource: 'kmemsize',
      held: 2952339,
      maxheld: 3059712,
      barrier: 24299200,
      limit: 26429120,
      failcnt: 0,
    });
    assert.equal(row(rows, '331', 'numproc').barrier, 'unlimited');
    assert.equal(row(rows, '331', 'numfile').limit, 12000);
  });
});

describe('parseBeancounters on host files', () => {
  for (const name of ['synthetic-host-first.txt', 'synthetic-host-last.txt']) {
    it(`${name}: every VE, no host block, both unlimited values, long ids`, () => {
      const rows = parseBeancounters(fixture(name));
      assert.deepEqual([...ves(rows)].sort(), ['10000101', '123', '9833']);
      assert.equal(rows.length, 3 * COMPAT_RESOURCES);
      assert.equal(row(rows, '123', 'vmguarpages').limit, 'unlimited');
      assert.equal(row(rows, '9833', 'vmguarpages').limit, 'unlimited');
      assert.equal(row(rows, '10000101', 'physpages').limit, 'unlimited');
      assert.equal(row(rows, '10000101', 'numproc').failcnt, 27);
      assert.equal(row(rows, '10000101', 'kmemsize').failcnt, 3);
    });
  }

  it('reads VZ7 names, including one wider than the uid column', () => {
    const rows = parseBeancounters(fixture('synthetic-vz7-names.txt'));
    const uuid = '7d4c1f5e-0b9a-4f2e-9a3d-5c8e6b2a1f00';
    assert.deepEqual(ves(rows), ['1001', 'webstudent42', uuid]);
    assert.equal(row(rows, 'webstudent42', 'numproc').held, 28);
    assert.equal(row(rows, uuid, 'oomguarpages').failcnt, 2);
    assert.equal(row(rows, '1001', 'physpages').limit, 262144);
  });

  it('reads the VZ8 emulator: UUIDs right-aligned to 36 columns, host row last', () => {
    const rows = parseBeancounters(fixture('synthetic-vz8-uuid.txt'));
    assert.deepEqual(ves(rows), [
      '7d4c1f5e-0b9a-4f2e-9a3d-5c8e6b2a1f00',
      'b2e9a0c4-3d1f-4e7a-8c65-0f9d2e4b7a11',
    ]);
    assert.equal(rows.length, 2 * COMPAT_RESOURCES);
    const kmem = row(rows, 'b2e9a0c4-3d1f-4e7a-8c65-0f9d2e4b7a11', 'kmemsize');
    assert.equal(kmem.limit, 'unlimited', 'the memcg no-limit value counts as unlimited');
  });
});

describe('values and errors', () => {
  const header = 'Version: 2.5\n uid resource held maxheld barrier limit failcnt\n';

  it('keeps a huge value that is not unlimited as the nearest number', () => {
    const text = `${header}101: kmemsize 9007199254740993 0 18446744073709551615 0 0\n`;
    const [parsed] = parseBeancounters(text);
    assert.equal(parsed.held, 9007199254740992);
    assert.equal(parsed.barrier, 18446744073709551615);
  });

  it('tolerates blank lines, CRLF line ends and a missing final newline', () => {
    const rows = parseBeancounters(`${header}\n101: numproc 1 2 3 4 5\r\n  numfile 6 7 8 9 10`);
    assert.deepEqual(
      rows.map((candidate) => [candidate.resource, candidate.failcnt]),
      [
        ['numproc', 5],
        ['numfile', 10],
      ],
    );
  });

  const garbage: Record<string, string> = {
    'an unknown version': 'Version: 3.0\nuid resource held maxheld barrier limit failcnt\n',
    'an empty file': '',
    'a missing header': 'Version: 2.5\n101: numproc 1 2 3 4 5\n',
    'a row before any uid': `${header}numproc 1 2 3 4 5\n`,
    'a negative value': `${header}101: numproc -1 2 3 4 5\n`,
    'a missing column': `${header}101: numproc 1 2 3 4\n`,
    'an extra column': `${header}101: numproc 1 2 3 4 5 6\n`,
    'a value past 64 bits': `${header}101: numproc 18446744073709551616 2 3 4 5\n`,
    'a strange resource name': `${header}101: num;rm 1 2 3 4 5\n`,
    'an empty uid': `${header}: numproc 1 2 3 4 5\n`,
    'HTML': '<html><body>502 Bad Gateway</body></html>\n',
  };
  for (const [what, text] of Object.entries(garbage)) {
    it(`refuses ${what} with a clear error`, () => {
      assert.throws(() => parseBeancounters(text), BeancounterParseError);
    });
  }

  it('names the line it could not read', () => {
    assert.throws(
      () => parseBeancounters(`${header}101: numproc 1 2 3 4 5\n  numfile x 2 3 4 5\n`),
      /line 4: "x" is not a counter value/,
    );
  });
});

describe('formatBeancounters', () => {
  it('prints the real 64-bit layout byte for byte', () => {
    for (const name of ['inside-ve-64bit.txt', 'host-only-64bit.txt', 'synthetic-host-first.txt']) {
      const text = fixture(name);
      assert.equal(formatBeancounters(parseBeancounterBlocks(text)), text, name);
    }
  });

  it('round-trips every fixture through the parser', () => {
    for (const name of [
      'inside-ve-32bit.txt',
      'virtuozzo-kb-nospace.txt',
      'synthetic-host-last.txt',
      'synthetic-vz7-names.txt',
      'synthetic-vz8-uuid.txt',
    ]) {
      const before = parseBeancounters(fixture(name));
      const after = parseBeancounters(formatBeancounters(parseBeancounterBlocks(fixture(name))));
      assert.deepEqual(after, before, name);
    }
  });

  it('writes unlimited as the 64-bit LONG_MAX and the uid on the first row only', () => {
    const text = formatBeancounters([
      {
        id: '101',
        rows: [
          {
            resource: 'numproc',
            held: 1,
            maxheld: 2,
            barrier: 'unlimited',
            limit: 'unlimited',
            failcnt: 0,
          },
          { resource: 'numfile', held: 3, maxheld: 4, barrier: 5, limit: 6n, failcnt: 7 },
        ],
      },
    ]);
    const lines = text.split('\n');
    assert.equal(lines[2].slice(0, 24), '      101:  numproc     ');
    assert.match(lines[2], / 9223372036854775807  9223372036854775807 {20}0$/);
    assert.equal(lines[3].slice(0, 12), ' '.repeat(12));
  });
});

describe('parseBeancounterResources', () => {
  it('reads a per-VE /proc/bc/ID/resources file with no uid column', () => {
    const text = [
      '            kmemsize                  3318833              4634057  9223372036854775807' +
        '  9223372036854775807                    0',
      '            numproc                        16                   23                  512' +
        '                  512                    4',
      '            swappages                       0                    0                    0' +
        '               131072                    0',
      '',
    ].join('\n');
    const rows = parseBeancounterResources(text, '9833');
    assert.deepEqual(
      rows.map((candidate) => [candidate.ve, candidate.resource, candidate.failcnt]),
      [
        ['9833', 'kmemsize', 0],
        ['9833', 'numproc', 4],
        ['9833', 'swappages', 0],
      ],
    );
    assert.equal(rows[0].barrier, 'unlimited');
  });
});
