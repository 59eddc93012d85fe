/**
 * The bot's own prefix in the 512-byte budget: learned from the JOIN echo, replaced by a
 * vhost (396 or CHGHOST), forgotten on a new connection, and the longest host until known.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IrcMessage } from 'irc-framework';
import { OwnPrefix } from '../adapters/irc-prefix.ts';
import { byteLength, takeHead, textBudget } from '../adapters/irc-split.ts';

const NICK = 'crewbot';
const CHANNEL = '#openvz';
const ISUPPORT = { CASEMAPPING: 'rfc1459', USERLEN: '10' };
const VHOST = `${'v'.repeat(52)}.example.org`;
const isMe = (nick: string): boolean => nick === NICK;

function line(command: string, params: string[], from = 'irc.test'): IrcMessage {
  const [nick, rest = ''] = from.split('!');
  const [ident = '', hostname = ''] = rest.split('@');
  return { command, params, nick, ident, hostname, tags: {} } as unknown as IrcMessage;
}

/** The longest line the budget lets out, as the server relays it to the channel. */
function relayed(prefix: OwnPrefix, user: string, host: string): string {
  const budget = textBudget(prefix.bytes(NICK, ISUPPORT), 'PRIVMSG', CHANNEL);
  const [head] = takeHead('word '.repeat(200), budget);
  return `:${NICK}!${user}@${host} PRIVMSG ${CHANNEL} :${head}\r\n`;
}

test('a 396 with a 64-character host replaces the host from the JOIN echo', () => {
  assert.equal(VHOST.length, 64);
  const prefix = new OwnPrefix();
  prefix.observe(line('JOIN', [CHANNEL], `${NICK}!crewvz@127.0.0.1`), isMe);
  assert.ok(byteLength(relayed(prefix, 'crewvz', '127.0.0.1')) > 505, 'the budget is used');

  prefix.observe(line('396', [NICK, VHOST, 'is now your displayed host']), isMe);
  const out = relayed(prefix, 'crewvz', VHOST);
  assert.ok(byteLength(out) <= 512, `relayed line of ${byteLength(out)} bytes`);
  assert.ok(byteLength(out) > 505, 'still uses the budget');
});

test('a 396 as user@host and our own CHGHOST update the prefix; others do not', () => {
  const prefix = new OwnPrefix();
  prefix.observe(line('JOIN', [CHANNEL], `${NICK}!crewvz@127.0.0.1`), isMe);
  prefix.observe(line('396', [NICK, `bot@${VHOST}`, 'is now your displayed host']), isMe);
  assert.equal(prefix.bytes(NICK, ISUPPORT), byteLength(`${NICK}!bot@${VHOST}`));

  prefix.observe(line('CHGHOST', ['crewvz', 'short.host'], `${NICK}!bot@${VHOST}`), isMe);
  assert.equal(prefix.bytes(NICK, ISUPPORT), byteLength(`${NICK}!crewvz@short.host`));
  prefix.observe(line('CHGHOST', ['x', VHOST], 'alice!a@h'), isMe);
  prefix.observe(line('JOIN', [CHANNEL], `alice!alice@${VHOST}`), isMe);
  assert.equal(prefix.bytes(NICK, ISUPPORT), byteLength(`${NICK}!crewvz@short.host`));
});

test('until the server shows our host, and after a reconnect, the budget assumes 64 bytes', () => {
  const prefix = new OwnPrefix();
  prefix.observe(line('JOIN', [CHANNEL], `${NICK}!crewvz@127.0.0.1`), isMe);
  prefix.reset();
  // The ident may get a `~`: USERLEN + 1.
  assert.equal(prefix.bytes(NICK, ISUPPORT), NICK.length + 1 + 11 + 1 + 64);
  const out = relayed(prefix, '~crewvzbot', VHOST);
  assert.ok(byteLength(out) <= 512, `relayed line of ${byteLength(out)} bytes`);
  assert.equal(prefix.bytes(NICK, { ...ISUPPORT, HOSTLEN: '32' }), NICK.length + 1 + 11 + 1 + 32);
});
