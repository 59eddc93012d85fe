/**
 * Who is logged in as what, for the people who share a channel with the bot. Nicks are keys
 * folded by the server's CASEMAPPING, so `Alice` and `alice` (and, under rfc1459, `[a]` and
 * `{a}`) are one person. People outside our channels are not tracked: nothing would tell us
 * when they quit or log out, and a stale entry could send someone's output to a stranger.
 */

/** Folds a nick or channel name to one case under the given ISUPPORT CASEMAPPING. */
export function foldCase(text: string, casemapping: string): string {
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (casemapping === 'ascii') {
    return lower;
  }
  const strict = casemapping === 'strict-rfc1459';
  return lower.replace(/[[\]\\~]/g, (c) => {
    switch (c) {
      case '[':
        return '{';
      case ']':
        return '}';
      case '\\':
        return '|';
      default:
        return strict ? c : '^';
    }
  });
}

/** `undefined`: not known yet; `null`: known to be logged out; a string: the account. */
export type AccountState = string | null | undefined;

interface Tracked {
  nick: string;
  account: AccountState;
  channels: Set<string>;
}

export class AccountTracker {
  private readonly users = new Map<string, Tracked>();

  constructor(private readonly casemapping: () => string) {}

  private fold(text: string): string {
    return foldCase(text, this.casemapping());
  }

  /** Someone is in a channel with us; `account` comes from extended-join when the server has it. */
  joined(nick: string, channel: string, account?: AccountState): void {
    const key = this.fold(nick);
    let user = this.users.get(key);
    if (!user) {
      user = { nick, account: undefined, channels: new Set() };
      this.users.set(key, user);
    }
    user.nick = nick;
    user.channels.add(this.fold(channel));
    if (account !== undefined) {
      user.account = account;
    }
  }

  parted(nick: string, channel: string): void {
    const key = this.fold(nick);
    const user = this.users.get(key);
    if (!user) {
      return;
    }
    user.channels.delete(this.fold(channel));
    if (user.channels.size === 0) {
      this.users.delete(key);
    }
  }

  quit(nick: string): void {
    this.users.delete(this.fold(nick));
  }

  renamed(oldNick: string, newNick: string): void {
    const user = this.users.get(this.fold(oldNick));
    if (!user) {
      return;
    }
    this.users.delete(this.fold(oldNick));
    user.nick = newNick;
    this.users.set(this.fold(newNick), user);
  }

  /** We left (or were kicked from) a channel: forget who we saw only there. */
  leftChannel(channel: string): void {
    const folded = this.fold(channel);
    for (const [key, user] of this.users) {
      user.channels.delete(folded);
      if (user.channels.size === 0) {
        this.users.delete(key);
      }
    }
  }

  /** Updates a tracked person's account; ignored for people we do not share a channel with. */
  setAccount(nick: string, account: string | null): void {
    const user = this.users.get(this.fold(nick));
    if (user) {
      user.account = account;
    }
  }

  accountOf(nick: string): AccountState {
    return this.users.get(this.fold(nick))?.account;
  }

  /** A nick currently logged in as `account`, if one shares a channel with us. */
  nickForAccount(account: string): string | undefined {
    const wanted = this.fold(account);
    for (const user of this.users.values()) {
      if (typeof user.account === 'string' && this.fold(user.account) === wanted) {
        return user.nick;
      }
    }
    return undefined;
  }

  clear(): void {
    this.users.clear();
  }
}
