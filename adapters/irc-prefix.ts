/**
 * The bot's own `nick!user@host` as the server relays it, for the 512-byte budget. The host
 * changes under us: services often set a vhost after SASL (396 RPL_VISIBLEHOST), a CHGHOST
 * may change it later, and a new connection may get another one. Until a line tells us, the
 * budget assumes the longest user and host the server allows.
 */
import type { IrcMessage } from 'irc-framework';
import { byteLength } from './irc-split.ts';

/** InspIRCd's default HOSTLEN; the longest common one, for servers that do not say. */
const FALLBACK_HOSTLEN = 64;
/** RFC 2812's USERLEN, plus the `~` servers add to an ident they could not verify. */
const FALLBACK_USERLEN = 10;

export class OwnPrefix {
  private user: string | undefined;
  private host: string | undefined;

  /** Reads one line from the server; `isMe` tells whether a nick is the bot's own. */
  observe(message: IrcMessage, isMe: (nick: string) => boolean): void {
    const p = message.params;
    switch (message.command) {
      case 'JOIN':
        if (isMe(message.nick)) this.set(message.ident, message.hostname);
        return;
      case 'CHGHOST':
        if (isMe(message.nick)) this.set(p[0], p[1]);
        return;
      case '396': {
        // :server 396 <me> <host> :is now your displayed host; some servers send user@host.
        const shown = p[1] ?? '';
        const at = shown.lastIndexOf('@');
        this.set(at === -1 ? this.user : shown.slice(0, at), shown.slice(at + 1));
        return;
      }
      default:
    }
  }

  /** A new connection may show another user@host. */
  reset(): void {
    this.user = undefined;
    this.host = undefined;
  }

  /** Bytes of `nick!user@host`, the worst case for a part not seen yet (ISUPPORT limits). */
  bytes(nick: string, isupport: Record<string, unknown>): number {
    const userBytes = this.user === undefined
      ? Number(isupport.USERLEN ?? FALLBACK_USERLEN) + 1
      : byteLength(this.user);
    const hostBytes = this.host === undefined
      ? Number(isupport.HOSTLEN ?? FALLBACK_HOSTLEN)
      : byteLength(this.host);
    return byteLength(nick) + 1 + userBytes + 1 + hostBytes;
  }

  private set(user: string | undefined, host: string | undefined): void {
    if (user) this.user = user;
    if (host) this.host = host;
  }
}
