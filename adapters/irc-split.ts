/**
 * Byte-safe line handling for IRC. A relayed line (`:nick!user@host PRIVMSG #chan :text\r\n`)
 * may be at most 512 bytes, so text is cut by UTF-8 bytes: on a word boundary when one fits,
 * otherwise between graphemes, never inside a character. CR, LF and NUL end a line on the
 * wire, so they never survive inside one.
 */

export const IRC_LINE_BYTES = 512;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Turns reply lines into wire-safe lines: embedded CR/LF start a new line, NUL is dropped, and
 * lines left empty are skipped (servers reject an empty PRIVMSG).
 */
export function toWireLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    for (const part of line.replace(/\0/g, '').split(/\r\n|\r|\n/)) {
      if (part.trim() !== '') {
        out.push(part);
      }
    }
  }
  return out;
}

/**
 * Bytes left for the text of `:<prefix> <command> <target> :<text>\r\n` within 512.
 * `prefixBytes` is the length of `nick!user@host`.
 */
export function textBudget(prefixBytes: number, command: string, target: string): number {
  const fixed = 1 + prefixBytes + 1 + command.length + 1 + byteLength(target) + 2 + 2;
  return IRC_LINE_BYTES - fixed;
}

/**
 * Splits the head off `text` so that it fits in `maxBytes` of UTF-8. Returns the head and the
 * rest ('' when everything fit). The cut prefers the last space; a word longer than the budget
 * is cut between graphemes (between code points only if one grapheme alone is too big).
 */
export function takeHead(text: string, maxBytes: number): [string, string] {
  if (maxBytes < 4) {
    throw new RangeError(`an IRC line needs room for at least 4 bytes of text, not ${maxBytes}`);
  }
  if (byteLength(text) <= maxBytes) {
    return [text, ''];
  }

  // Every UTF-16 unit is at least one UTF-8 byte, so the head lies inside this window.
  const window = text.slice(0, maxBytes + 1);
  let used = 0;
  let fitEnd = 0;
  let lastSpace = -1;
  for (const { segment, index } of segmenter.segment(window)) {
    const size = byteLength(segment);
    if (used + size > maxBytes) {
      break;
    }
    if (/^\s+$/.test(segment) && index > 0) {
      lastSpace = index;
    }
    used += size;
    fitEnd = index + segment.length;
  }

  // The fitting part may end exactly where a word ends.
  if (fitEnd > 0 && /\s/.test(text.charAt(fitEnd))) {
    lastSpace = fitEnd;
  }
  if (lastSpace > 0) {
    const head = text.slice(0, lastSpace).trimEnd();
    if (head !== '') {
      return [head, text.slice(lastSpace).trimStart()];
    }
  }
  if (fitEnd === 0) {
    fitEnd = codePointFit(window, maxBytes);
  }
  return [text.slice(0, fitEnd), text.slice(fitEnd).trimStart()];
}

/** Splits a whole line into pieces of at most `maxBytes` each (see takeHead). */
export function splitLine(text: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest !== '') {
    const [head, tail] = takeHead(rest, maxBytes);
    pieces.push(head);
    rest = tail;
  }
  return pieces;
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The end index of the longest run of whole code points that fits; at least one. */
function codePointFit(text: string, maxBytes: number): number {
  let used = 0;
  let end = 0;
  for (const char of text) {
    const size = byteLength(char);
    if (used + size > maxBytes) {
      break;
    }
    used += size;
    end += char.length;
  }
  return end;
}
