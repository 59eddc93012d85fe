/**
 * Turns IRC traffic into services-account identities. The account-tag on a message is the
 * authority when the server sends it; otherwise the tracked state (kept current by
 * extended-join and account-notify) answers, and when neither can, a WHOX query (or WHOIS and
 * its 330 reply on servers without WHOX) asks the server. A lookup that fails or times out
 * counts as "no account": the person is treated as unidentified, never as someone else.
 */
import type { IrcMessage } from 'irc-framework';
import { AccountTracker, foldCase } from './irc-accounts.ts';

/** Our WHOX token; irc-framework ignores replies to tokens it did not issue. */
const WHOX_TOKEN = '417';
const LOOKUP_TIMEOUT_MS = 5_000;

export interface ServerFeatures {
  casemapping(): string;
  capEnabled(name: string): boolean;
  hasWhox(): boolean;
  ownNick(): string;
  /** True for a channel the bot is in now. */
  inChannel(channel: string): boolean;
}

interface Lookup {
  account: string | null;
  waiters: ((account: string | null) => void)[];
  timer: NodeJS.Timeout;
}

export class IdentityResolver {
  readonly tracker: AccountTracker;
  private readonly lookups = new Map<string, Lookup>();

  /**
   * @param sendQuery queues a protocol line ahead of chat output
   * @param onAccount told whenever a tracked nick is seen logged in (for queued private output)
   */
  constructor(
    private readonly server: ServerFeatures,
    private readonly sendQuery: (line: string) => void,
    private readonly onAccount: (nick: string, account: string) => void,
  ) {
    this.tracker = new AccountTracker(() => server.casemapping());
  }

  private fold(text: string): string {
    return foldCase(text, this.server.casemapping());
  }

  private isMe(nick: string): boolean {
    return this.fold(nick) === this.fold(this.server.ownNick());
  }

  /** The account a message's sender is logged in as, or null when nothing vouches for one. */
  async accountFor(message: IrcMessage): Promise<string | null> {
    if (this.server.capEnabled('account-tag')) {
      const account = message.tags.account;
      return account === undefined || account === '' || account === '*' ? null : account;
    }
    // Tracked state is only current while the server tells us about logouts.
    if (this.server.capEnabled('account-notify')) {
      const known = this.tracker.accountOf(message.nick);
      if (known !== undefined) {
        return known;
      }
    }
    return this.lookup(message.nick);
  }

  /** Asks the server which account `nick` uses; concurrent asks for one nick share a query. */
  lookup(nick: string): Promise<string | null> {
    const key = this.fold(nick);
    return new Promise((resolve) => {
      const pending = this.lookups.get(key);
      if (pending) {
        pending.waiters.push(resolve);
        return;
      }
      const timer = setTimeout(() => this.finish(key), LOOKUP_TIMEOUT_MS);
      timer.unref();
      this.lookups.set(key, { account: null, waiters: [resolve], timer });
      this.sendQuery(
        this.server.hasWhox() ? `WHO ${nick} %tcna,${WHOX_TOKEN}` : `WHOIS ${nick}`,
      );
    });
  }

  /** Learns accounts of everyone already in a channel we just joined (WHOX only). */
  scanChannel(channel: string): void {
    if (this.server.hasWhox()) {
      this.sendQuery(`WHO ${channel} %tcna,${WHOX_TOKEN}`);
    }
  }

  /** Connection gone: pending lookups answer "no account", tracked state is stale. */
  reset(): void {
    for (const key of [...this.lookups.keys()]) {
      this.finish(key);
    }
    this.tracker.clear();
  }

  /** Feeds one parsed line from the server into the tracked state. */
  observe(message: IrcMessage): void {
    const p = message.params;
    switch (message.command) {
      case 'JOIN':
        return this.onJoin(message);
      case 'PART':
        return this.onLeave(message.nick, p[0]);
      case 'KICK':
        return this.onLeave(p[1], p[0]);
      case 'QUIT':
        return this.tracker.quit(message.nick);
      case 'NICK':
        return this.tracker.renamed(message.nick, p[0]);
      case 'ACCOUNT':
        return this.setAccount(message.nick, p[0] === '*' ? null : p[0]);
      case '353':
        return this.onNames(p[2], p[p.length - 1]);
      case '354':
        return this.onWhoxReply(p);
      case '330':
        return this.onLookupAccount(p[1], p[2]);
      case '315':
      case '318':
        return this.finish(this.fold(p[1] ?? ''));
      default:
    }
  }

  private onJoin(message: IrcMessage): void {
    const channel = message.params[0];
    if (this.isMe(message.nick)) {
      return;
    }
    let account: string | null | undefined;
    if (this.server.capEnabled('extended-join')) {
      account = message.params[1] === '*' ? null : message.params[1];
    }
    this.tracker.joined(message.nick, channel, account);
    if (typeof account === 'string') {
      this.onAccount(message.nick, account);
    }
  }

  private onLeave(nick: string, channel: string): void {
    if (this.isMe(nick)) {
      this.tracker.leftChannel(channel);
    } else {
      this.tracker.parted(nick, channel);
    }
  }

  /** NAMES lists who was there before us; entries may carry prefixes and `!user@host`. */
  private onNames(channel: string, names: string): void {
    for (const entry of names.split(' ')) {
      const nick = entry.replace(/^[~&@%+!.^*]+/, '').split('!')[0];
      if (nick !== '' && !this.isMe(nick)) {
        this.tracker.joined(nick, channel);
      }
    }
  }

  private onWhoxReply(params: string[]): void {
    // :server 354 <me> <token> <channel> <nick> <account>; account "0" means none.
    if (params[1] !== WHOX_TOKEN || params.length < 5) {
      return;
    }
    const [, , channel, nick, raw] = params;
    const account = raw === '0' ? null : raw;
    // Track people seen in one of our channels; a lone lookup may name a channel we are not in.
    if (!this.isMe(nick) && this.server.inChannel(channel)) {
      this.tracker.joined(nick, channel, account);
    }
    this.onLookupAccount(nick, account);
  }

  private onLookupAccount(nick: string, account: string | null): void {
    const pending = this.lookups.get(this.fold(nick));
    if (pending) {
      pending.account = account;
    }
    this.setAccount(nick, account);
  }

  private setAccount(nick: string, account: string | null): void {
    this.tracker.setAccount(nick, account);
    if (account !== null && this.tracker.accountOf(nick) === account) {
      this.onAccount(nick, account);
    }
  }

  private finish(key: string): void {
    const pending = this.lookups.get(key);
    if (!pending) {
      return;
    }
    clearTimeout(pending.timer);
    this.lookups.delete(key);
    for (const resolve of pending.waiters) {
      resolve(pending.account);
    }
  }
}
