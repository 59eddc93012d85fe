/**
 * Whether a private line meant for a services account may go to a nick now. A nick is only a
 * name someone holds at the moment: after a reconnect, a nick change or a logout, it may belong
 * to a stranger. So every private line for an account is checked just before it is written:
 * the tracked state answers while account-notify keeps it current, otherwise what a message's
 * account-tag or a WHOX/WHOIS lookup said a moment ago, otherwise a fresh lookup is made.
 */
import type { AccountState, AccountTracker } from './irc-accounts.ts';

/** 'go': write it; 'hold': ask the server first; 'divert': someone else holds the nick. */
export type Clearance = 'go' | 'hold' | 'divert';

/**
 * How long what the server said about an untracked nick is trusted. Nothing tells us when such
 * a person logs out or changes nick, so this is short: long enough for one paced reply.
 */
const VOUCHED_MS = 15_000;

export interface RecipientCheckOptions {
  tracker: AccountTracker;
  capEnabled: (name: string) => boolean;
  /** Asks the server which account a nick uses (null: none, or no answer). */
  lookup: (nick: string) => Promise<string | null>;
  fold: (text: string) => string;
  /** Told when a lookup has answered, so held lines can be looked at again. */
  changed: () => void;
  now?: () => number;
}

export class RecipientCheck {
  private readonly vouched = new Map<string, { account: string | null; at: number }>();
  private readonly asking = new Set<string>();
  /** Bumped per connection: a lookup from an old connection says nothing about this one. */
  private epoch = 0;
  private readonly now: () => number;

  constructor(private readonly options: RecipientCheckOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The server just said `nick` is logged in as `account` (null: as nobody). */
  vouch(nick: string, account: string | null): void {
    this.vouched.set(this.options.fold(nick), { account, at: this.now() });
  }

  /** A nick changed hands or logged in or out: what we were told about it is stale. */
  forget(nick: string): void {
    this.vouched.delete(this.options.fold(nick));
  }

  /** A new connection: nobody holds a nick because they did on the last one. */
  reset(): void {
    this.epoch += 1;
    this.vouched.clear();
    this.asking.clear();
  }

  clearance(nick: string, owner: string): Clearance {
    const current = this.current(nick);
    if (current === undefined) {
      this.ask(nick);
      return 'hold';
    }
    const fold = this.options.fold;
    return current !== null && fold(current) === fold(owner) ? 'go' : 'divert';
  }

  private current(nick: string): AccountState {
    if (this.options.capEnabled('account-notify')) {
      const tracked = this.options.tracker.accountOf(nick);
      if (tracked !== undefined) {
        return tracked;
      }
    }
    const entry = this.vouched.get(this.options.fold(nick));
    if (entry && this.now() - entry.at < VOUCHED_MS) {
      return entry.account;
    }
    return undefined;
  }

  private ask(nick: string): void {
    const key = this.options.fold(nick);
    if (this.asking.has(key)) {
      return;
    }
    this.asking.add(key);
    const epoch = this.epoch;
    void this.options.lookup(nick).then((account) => {
      if (epoch !== this.epoch) {
        return;
      }
      this.asking.delete(key);
      this.vouch(nick, account);
      this.options.changed();
    });
  }
}
