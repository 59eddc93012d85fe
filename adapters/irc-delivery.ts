/**
 * Where IRC output goes: answers go back where they were asked (long ones to the asker
 * privately, with one line in the channel), alerts to the alert channel, and output for a
 * person to the nick logged in as their account, or held until they show up.
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
  logger: Logger;
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
      case 'conversation':
        this.enqueue(destination.conversation.room, lines);
        return;
      case 'user':
        this.toIdentity(destination.identity, lines);
    }
  }

  /** Answers where the command was asked; long output goes to the asker privately. */
  respond(conversation: Conversation, nick: string, reply: Reply): void {
    const lines = toWireLines(reply.lines);
    if (conversation.kind === 'channel' && reply.long) {
      // The channel line first: at the default rate a long table takes half a minute to send.
      const summary = toWireLines([reply.summary ?? DEFAULT_LONG_SUMMARY]).join(' ');
      this.enqueue(conversation.room, [`${nick}: ${summary || DEFAULT_LONG_SUMMARY}`]);
      this.enqueue(nick, lines);
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
      this.enqueue(nick, lines);
    }
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
      this.enqueue(nick, lines);
      return;
    }
    const key = this.options.fold(account);
    this.waiting.set(key, [...(this.waiting.get(key) ?? []), ...lines]);
  }

  private enqueue(target: string, lines: string[]): void {
    for (const text of lines) {
      this.options.queue.push({ kind: 'message', command: 'PRIVMSG', target, text });
    }
  }
}
