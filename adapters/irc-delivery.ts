/**
 * Where IRC output goes: answers go back where they were asked (long ones to the asker
 * privately, with one line in the channel), alerts to the alert channel, and output for a
 * person to the nick logged in as their account, or held until they show up. Every private
 * line remembers the account it is for, so it never reaches whoever holds the nick later.
 */
import type { Logger } from '../src/log.ts';
import type { AccountTracker } from './irc-accounts.ts';
import type { OutputQueue } from './irc-output.ts';
import { toWireLines } from './irc-split.ts';
import type { Conversation, Destination, Reply } from './types.ts';

const DEFAULT_LONG_SUMMARY = 'the full answer is in a private message.';

export interface DeliveryOptions {
  queue: OutputQueue;
  tracker: AccountTracker;
  alertChannel: string;
  fold: (text: string) => string;
  registered: () => boolean;
  /** True while the tracked accounts are kept current by the server (account-notify). */
  trackerCurrent: () => boolean;
  logger: Logger;
}

/** Who asked: their nick, their account (null: none), and whether their connection is gone. */
export interface Asker {
  nick: string;
  account: string | null;
  gone: boolean;
}

export class Delivery {
  /** Output for people not online now, by folded account. */
  private readonly waiting = new Map<string, string[]>();

  constructor(private readonly options: DeliveryOptions) {}

  send(destination: Destination, reply: Reply): void {
    const lines = toWireLines(reply.lines);
    switch (destination.kind) {
      case 'alerts':
        this.enqueue(this.options.alertChannel, lines);
        return;
      case 'conversation': {
        const { kind, room } = destination.conversation;
        // Nothing says who a private room is for: it lasts as long as this connection.
        this.enqueue(room, lines, kind === 'private' ? null : undefined);
        return;
      }
      case 'user':
        this.toIdentity(destination.identity, lines);
    }
  }

  /** Answers where the command was asked; long output goes to the asker privately. */
  respond(conversation: Conversation, asker: Asker, reply: Reply): void {
    const lines = toWireLines(reply.lines);
    const { nick } = asker;
    if (conversation.kind === 'channel' && reply.long) {
      // The channel line first: at the default rate a long table takes half a minute to send.
      const summary = toWireLines([reply.summary ?? DEFAULT_LONG_SUMMARY]).join(' ');
      this.enqueue(conversation.room, [`${nick}: ${summary || DEFAULT_LONG_SUMMARY}`]);
      this.privately(asker, lines);
      return;
    }
    if (conversation.kind === 'private') {
      this.privately(asker, lines);
      return;
    }
    this.enqueue(conversation.room, lines);
  }

  /** Someone is now seen logged in as `account`: hand over what waited for them. */
  accountSeen(nick: string, account: string): void {
    const key = this.options.fold(account);
    const lines = this.waiting.get(key);
    if (lines) {
      this.waiting.delete(key);
      this.enqueue(nick, lines, account);
    }
  }

  /**
   * Lines for `account` were queued for a nick someone else holds now: they go to another
   * nick known to be logged in as the account, or wait until one is.
   */
  divert(account: string, fromNick: string, lines: string[]): void {
    const nick = this.options.trackerCurrent()
      ? this.options.tracker.nickForAccount(account)
      : undefined;
    if (nick !== undefined && this.options.fold(nick) !== this.options.fold(fromNick)) {
      this.enqueue(nick, lines, account);
      return;
    }
    this.hold(account, lines);
  }

  private toIdentity(identity: string, lines: string[]): void {
    if (!identity.startsWith('irc:')) {
      this.options.logger.warn({ identity }, 'not an IRC identity; message dropped');
      return;
    }
    const account = identity.slice('irc:'.length);
    const nick = this.options.registered()
      ? this.options.tracker.nickForAccount(account)
      : undefined;
    if (nick) {
      this.enqueue(nick, lines, account);
      return;
    }
    this.hold(account, lines);
  }

  private privately(asker: Asker, lines: string[]): void {
    if (asker.account === null && asker.gone) {
      // Known by nick alone, and the connection they asked on is gone: the nick may be anyone's.
      this.options.logger.info({ nick: asker.nick, lines: lines.length },
        'private answer for someone with no account dropped: asked on a connection now closed');
      return;
    }
    this.enqueue(asker.nick, lines, asker.account);
  }

  private hold(account: string, lines: string[]): void {
    const key = this.options.fold(account);
    this.waiting.set(key, [...(this.waiting.get(key) ?? []), ...lines]);
  }

  private enqueue(target: string, lines: string[], owner?: string | null): void {
    for (const text of lines) {
      this.options.queue.push({
        kind: 'message', command: 'PRIVMSG', target, text,
        ...(owner === undefined ? {} : { owner }),
      });
    }
  }
}
