/**
 * Splits a command line into words. Single and double quotes group words; a backslash escapes
 * the next character (outside single quotes). Only the first line counts (up to any CR, LF or
 * line separator), so a pasted block cannot smuggle a second command.
 */
import { UserFacingError } from './errors.ts';

/**
 * Control characters (a lone CR an adapter let through would end the line on IRC, an escape
 * sequence would paint a terminal) and the bidirectional formatting marks (which make a word
 * read backwards): none of them has a place in a command, and a word echoed or stored later
 * must not carry them.
 */
const UNPRINTABLE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

export function tokenize(text: string): string[] {
  const line = (text.split(/[\r\n\u2028\u2029]/, 1)[0] ?? '').replace(/\t/g, ' ');
  const unprintable = line.match(UNPRINTABLE)?.[0];
  if (unprintable !== undefined) {
    // Refused, not replaced: a replaced character could turn one identity into another.
    const code = unprintable.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0');
    throw new UserFacingError(
      `the command holds an unprintable character (U+${code}); type it again without it`,
    );
  }
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;

  for (let index = 0; index < line.length; index += 1) {
    const char = line[index] as string;

    if (char === '\\' && quote !== "'" && index + 1 < line.length) {
      index += 1;
      word += line[index];
      inWord = true;
    } else if (quote !== null) {
      if (char === quote) {
        quote = null;
      } else {
        word += char;
      }
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) {
        words.push(word);
      }
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote !== null) {
    throw new UserFacingError(`unclosed ${quote} quote; close it or leave the quotes out`);
  }
  if (inWord) {
    words.push(word);
  }
  return words;
}

/** Edit distance, for suggesting the command someone probably meant. */
export function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);

  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** How much of a typed word is quoted back in a reply. */
const ECHO_CHARS = 30;

/** A word typed by someone, cut short and stripped of control characters, to quote in a reply. */
export function echo(word: string): string {
  const clean = word.replace(new RegExp(UNPRINTABLE, 'gu'), '?');
  return clean.length > ECHO_CHARS ? `${clean.slice(0, ECHO_CHARS)}…` : clean;
}
