import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byteLength, splitLine, takeHead, textBudget, toWireLines } from '../adapters/irc-split.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function assertValidPieces(pieces: string[], maxBytes: number): void {
  for (const piece of pieces) {
    assert.ok(byteLength(piece) <= maxBytes, `piece of ${byteLength(piece)} bytes > ${maxBytes}`);
    assert.ok(piece.length > 0, 'empty piece');
    // A lone surrogate would encode as U+FFFD: a piece must round-trip byte for byte.
    assert.equal(strictUtf8.decode(Buffer.from(piece, 'utf8')), piece);
    assert.doesNotMatch(piece, /\uFFFD/);
  }
}

describe('splitLine', () => {
  it('leaves a line that fits alone', () => {
    assert.deepEqual(splitLine('hello world', 50), ['hello world']);
  });

  it('cuts on the last space that fits and drops the space', () => {
    assert.deepEqual(splitLine('alpha beta gamma delta', 11), ['alpha beta', 'gamma delta']);
  });

  it('counts bytes, not characters, for multibyte text', () => {
    // Each Cyrillic letter is 2 bytes: 6 words of 5 letters = 10 bytes a word.
    const text = Array.from({ length: 6 }, () => 'привет').join(' ');
    const pieces = splitLine(text, 25);
    assertValidPieces(pieces, 25);
    assert.deepEqual(pieces, ['привет привет', 'привет привет', 'привет привет']);
  });

  it('cuts a word longer than the budget between characters, never inside one', () => {
    const word = '日本語'.repeat(40); // 3 bytes each, 360 bytes
    const pieces = splitLine(word, 100);
    assertValidPieces(pieces, 100);
    assert.equal(pieces.join(''), word);
    assert.equal(byteLength(pieces[0]), 99);
  });

  it('keeps emoji and combined graphemes whole', () => {
    const family = '👨‍👩‍👧'; // 18 bytes, one grapheme
    const accented = 'e\u0301'; // e + combining acute: 3 bytes, one grapheme
    const text = `${family.repeat(5)}${accented.repeat(10)}`;
    const pieces = splitLine(text, 40);
    assertValidPieces(pieces, 40);
    assert.equal(pieces.join(''), text);
    for (const piece of pieces) {
      assert.ok(!piece.startsWith('\u0301'), 'a piece starts with a detached combining mark');
      assert.ok(!piece.startsWith('\u200d'), 'a piece starts inside a ZWJ sequence');
    }
  });

  it('falls back to code points when one grapheme alone exceeds the budget', () => {
    const zalgo = `a${'\u0301'.repeat(30)}`; // one grapheme of 61 bytes
    const pieces = splitLine(zalgo, 20);
    assertValidPieces(pieces, 20);
    assert.equal(pieces.join(''), zalgo);
  });

  it('refuses a budget too small for any character', () => {
    assert.throws(() => takeHead('abc def', 3), RangeError);
  });
});

describe('toWireLines', () => {
  it('turns CR, LF and CRLF into separate lines and drops NUL', () => {
    const lines = toWireLines(['one\r\ntwo\nthree\rfour', 'nul\0here', '', '  ']);
    assert.deepEqual(lines, ['one', 'two', 'three', 'four', 'nulhere']);
    for (const line of lines) {
      assert.doesNotMatch(line, /[\r\n\0]/);
    }
  });
});

describe('textBudget', () => {
  it('leaves exactly 512 bytes for the relayed line', () => {
    const prefix = 'crewvz!~crewvz@127.0.0.1';
    const budget = textBudget(byteLength(prefix), 'PRIVMSG', '#openvz');
    const line = `:${prefix} PRIVMSG #openvz :${'x'.repeat(budget)}\r\n`;
    assert.equal(byteLength(line), 512);
  });
});
