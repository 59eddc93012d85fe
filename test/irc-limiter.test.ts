/** The per-person command limit, on an injected clock: one warning per flood, not per refill. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedLimiter } from '../adapters/token-bucket.ts';

/** A limiter with the default rate (5 at once, then 10 a minute) on a clock the test moves. */
function limiter(): { check: () => string; advance: (ms: number) => void } {
  let now = 1_000_000;
  const limit = new KeyedLimiter(5, 10 / 60, () => now);
  return {
    check: () => limit.check('a:alice'),
    advance: (ms) => {
      now += ms;
    },
  };
}

test('a steady flooder is warned once, and still gets the commands the rate allows', () => {
  const { check, advance } = limiter();
  const verdicts: string[] = [];
  // Two commands a second for two minutes: far over 10 a minute.
  for (let i = 0; i < 240; i++) {
    verdicts.push(check());
    advance(500);
  }
  const count = (v: string): number => verdicts.filter((x) => x === v).length;
  assert.equal(count('warn'), 1);
  // The burst of 5, then one a token: the 119.5 s up to the last command refill 19.9 tokens.
  assert.equal(count('ok'), 5 + 19);
  assert.equal(verdicts.indexOf('warn'), 5, 'the warning comes when the burst runs out');
});

test('after going quiet until the bucket is full, a new flood gets a new warning', () => {
  const { check, advance } = limiter();
  for (let i = 0; i < 6; i++) check();
  assert.equal(check(), 'drop');

  // Refilled part way: the person is still flooding as far as the warning goes.
  advance(7_000);
  assert.equal(check(), 'ok');
  for (let i = 0; i < 3; i++) assert.equal(check(), 'drop');

  // Quiet for the 30 s a full bucket takes (5 tokens at one per 6 s), and a little more.
  advance(31_000);
  assert.deepEqual(Array.from({ length: 6 }, check), ['ok', 'ok', 'ok', 'ok', 'ok', 'warn']);
  assert.equal(check(), 'drop');
});
