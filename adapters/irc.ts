/**
 * The IRC chat adapter. irc-framework handles the socket, CAP negotiation, SASL and ISUPPORT;
 * this class reads every parsed line through one raw middleware (registered once, so no
 * reconnect ever doubles a handler), vouches for people by services account, and writes every
 * line through the flood-safe output queue. It reconnects by itself with capped backoff.
 */
import irc, { type Client, type IrcMessage } from 'irc-framework';
import type { Logger } from '../src/log.ts';
import { backoffMs } from '../src/backoff.ts';
import { foldCase } from './irc-accounts.ts';
import { ChannelKeeper, JOIN_REFUSED, channelsToKeep } from './irc-channels.ts';
import { clientOptions, type IrcConfig } from './irc-config.ts';
import { IdentityResolver } from './irc-identity.ts';
import { OutputQueue } from './irc-output.ts';
import { Delivery } from './irc-delivery.ts';
import { OwnPrefix } from './irc-prefix.ts';
import { RecipientCheck } from './irc-recipients.ts';
import { byteLength } from './irc-split.ts';
import { KeyedLimiter, TokenBucket } from './token-bucket.ts';
import type {
  ChatAdapter,
  Conversation,
  Destination,
  InboundMessage,
  MessageHandler,
  Reply,
} from './types.ts';

export interface IrcAdapterOptions extends IrcConfig {
  logger: Logger;
}

/** A connection that lasted less than this counts as a failed attempt (e.g. a k-line on join). */
const STABLE_MS = 30_000;
const QUIT_WAIT_MS = 2_000;

export class IrcAdapter implements ChatAdapter {
  readonly name = 'irc';
  private readonly config: IrcConfig;
  private readonly log: Logger;
  private readonly client: Client;
  private readonly queue: OutputQueue;
  private readonly identity: IdentityResolver;
  private readonly limiter: KeyedLimiter;
  private readonly channels: ChannelKeeper;
  private readonly delivery: Delivery;
  private readonly recipients: RecipientCheck;
  private handler: MessageHandler | undefined;
  private registered = false;
  private registeredAt = 0;
  private failures = 0;
  /** Counts connections: someone with no account is known by nick on one connection only. */
  private connection = 0;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Our own user@host as the server relays it (JOIN echo, 396, CHGHOST). */
  private readonly own = new OwnPrefix();

  constructor(options: IrcAdapterOptions) {
    const { logger, ...config } = options;
    this.config = config;
    this.log = logger.child({ adapter: 'irc' });
    this.client = new irc.Client(clientOptions(config));

    const rate = config.rate;
    this.queue = new OutputQueue(
      new TokenBucket(rate.burst, rate.linesPerSecond),
      {
        ready: (target) => this.ready(target),
        write: (line) => this.write(line),
        prefixBytes: () => this.prefixBytes(),
        clearance: (target, owner) => this.recipients.clearance(target, owner),
        divert: (owner, target, texts) => this.delivery.divert(owner, target, texts),
      },
      this.log,
    );
    this.channels = new ChannelKeeper({
      channels: channelsToKeep(config.channels, config.alertChannel),
      backoff: config.reconnect,
      fold: (name) => this.fold(name),
      sendJoin: (channel) => this.queue.push({ kind: 'raw', line: `JOIN ${channel}` }, true),
      registered: () => this.registered,
      logger: this.log,
    });
    this.limiter = new KeyedLimiter(rate.userBurst, rate.userPerMinute / 60);
    this.identity = new IdentityResolver(
      {
        casemapping: () => this.client.network.options.CASEMAPPING,
        capEnabled: (name) => this.client.network.cap.isEnabled(name),
        hasWhox: () => Boolean(this.client.network.supports('WHOX')),
        ownNick: () => this.client.user.nick,
        inChannel: (channel) => this.channels.has(channel),
      },
      (line) => this.queue.push({ kind: 'raw', line }, true),
      (nick, account) => this.delivery.accountSeen(nick, account),
    );
    this.recipients = new RecipientCheck({
      tracker: this.identity.tracker,
      capEnabled: (name) => this.client.network.cap.isEnabled(name),
      lookup: (nick) => this.identity.lookup(nick),
      fold: (text) => this.fold(text),
      changed: () => this.queue.drain(),
    });
    this.delivery = new Delivery({
      queue: this.queue,
      tracker: this.identity.tracker,
      alertChannel: config.alertChannel ?? config.channels[0],
      fold: (text) => this.fold(text),
      registered: () => this.registered,
      trackerCurrent: () => this.client.network.cap.isEnabled('account-notify'),
      logger: this.log,
    });
    this.bindOnce();
  }

  /** True while registered on the server (output can flow). */
  get online(): boolean {
    return this.registered;
  }

  async start(handler: MessageHandler): Promise<void> {
    if (this.handler) {
      throw new Error('IrcAdapter.start() was called twice; create one adapter per connection');
    }
    this.handler = handler;
    this.log.info({ host: this.config.host, port: this.config.port }, 'connecting to IRC');
    this.client.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    this.channels.reset();
    this.queue.stop();
    this.identity.reset();
    const wasConnected = this.client.connected;
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, QUIT_WAIT_MS);
      this.client.on('socket close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.client.quit('crewvz stopping');
    if (wasConnected) {
      await closed;
    }
  }

  async send(destination: Destination, reply: Reply): Promise<void> {
    this.delivery.send(destination, reply);
  }

  private bindOnce(): void {
    this.client.use((_client, raw) => {
      raw.use((_command, message, _line, _client2, next) => {
        // irc-framework updates its own state (ISUPPORT, caps, nick) first.
        next();
        try {
          this.onLine(message);
        } catch (error) {
          this.log.error({ err: error, command: message.command }, 'IRC line handling failed');
        }
      });
    });
    this.client.on('registered', () => this.onRegistered());
    this.client.on('socket close', (error?: unknown) => this.onClosed(error));
    this.client.on('sasl failed', (event: { reason?: string }) => {
      this.log.error(
        { reason: event.reason, account: this.config.sasl?.account },
        'SASL login failed; check adapters.irc.sasl (account and password) with services',
      );
    });
  }

  private onLine(message: IrcMessage): void {
    this.identity.observe(message);
    this.own.observe(message, (nick) => this.isMe(nick));
    const p = message.params;
    switch (message.command) {
      case 'JOIN':
        if (this.isMe(message.nick)) this.onOwnJoin(message);
        return;
      case 'NICK':
      case 'QUIT':
      case 'ACCOUNT':
        // The nick changes hands or accounts: what a lookup said about it is stale.
        this.recipients.forget(message.nick);
        if (message.command === 'NICK') this.recipients.forget(p[0]);
        return;
      case 'PART':
        if (this.isMe(message.nick)) this.channels.onParted(p[0]);
        return;
      case 'KICK':
        if (this.isMe(p[1])) this.channels.onKicked(p[0]);
        return;
      case '433':
        // Nick taken while registering: try the next one rather than hang.
        if (!this.registered) this.write(`NICK ${p[1] ?? this.config.nick}_`);
        return;
      case 'PRIVMSG':
        void this.onPrivmsg(message);
        return;
      default:
        if (JOIN_REFUSED.has(message.command)) this.channels.onRefused(p[1], message.command);
    }
  }

  private onRegistered(): void {
    this.registered = true;
    this.registeredAt = Date.now();
    this.log.info({ nick: this.client.user.nick, caps: this.client.network.cap.enabled },
      'registered on IRC');
    this.channels.joinAll();
    this.queue.drain();
  }

  private onOwnJoin(message: IrcMessage): void {
    const channel = message.params[0];
    this.channels.onJoined(channel);
    this.identity.scanChannel(channel);
    this.queue.drain();
  }

  /** `error`: why the socket closed, when it failed (refused, TLS certificate not trusted). */
  private onClosed(error?: unknown): void {
    const wasRegistered = this.registered;
    this.registered = false;
    this.connection += 1;
    this.channels.reset();
    this.identity.reset();
    this.own.reset();
    this.recipients.reset();
    this.queue.dropConnectionBound();
    if (this.stopping) {
      return;
    }

    const stable = wasRegistered && Date.now() - this.registeredAt >= STABLE_MS;
    this.failures = stable ? 0 : this.failures + 1;
    const waitMs = backoffMs(this.failures, this.config.reconnect.minMs,
      this.config.reconnect.maxMs);
    const reason = error instanceof Error
      ? { reason: error.message, code: (error as NodeJS.ErrnoException).code }
      : {};
    this.log.warn({ attempt: this.failures, waitMs, queued: this.queue.size, ...reason },
      'IRC connection lost; reconnecting');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.stopping) this.client.connect();
    }, waitMs);
  }

  private async onPrivmsg(message: IrcMessage): Promise<void> {
    const [target = '', text = ''] = message.params;
    const nick = message.nick;
    if (!this.handler || !nick || this.isMe(nick)) return;
    if (text.startsWith('\x01') || text.trim() === '') return;

    const conversation: Conversation = this.isChannel(target)
      ? { kind: 'channel', room: target }
      : { kind: 'private', room: nick };
    // In a channel only `!` lines are meant for the bot; in private the `!` may be left out,
    // and the dispatcher takes the bare command.
    if (conversation.kind === 'channel' && !text.trimStart().startsWith('!')) return;
    const account = await this.identity.accountFor(message);
    // Private answers are for this account (or, with none, for this nick on this connection),
    // whoever holds the nick later.
    const askedOn = this.connection;
    const respond = async (reply: Reply): Promise<void> => {
      this.delivery.respond(conversation, { nick, account, gone: askedOn !== this.connection },
        reply);
    };
    this.recipients.vouch(nick, account);
    if (account !== null) this.delivery.accountSeen(nick, account);

    // Unidentified people are told apart by nick: all they may run is help and whoami.
    const limitKey = account ? `a:${this.fold(account)}` : `n:${this.fold(nick)}`;
    const verdict = this.limiter.check(limitKey);
    if (verdict === 'drop') return;
    if (verdict === 'warn') {
      await respond({
        lines: [`${nick}: that is too many commands at once; wait a minute, then try again.`],
      });
      return;
    }

    const inbound: InboundMessage = {
      adapter: this.name,
      sender: { identity: account === null ? null : `irc:${account}`, display: nick },
      conversation,
      text: text.trim(),
      identifyHint: '/msg NickServ IDENTIFY account password',
    };
    if (message.tags.msgid) inbound.eventId = message.tags.msgid;
    this.log.info({ nick, identity: inbound.sender.identity, where: conversation.kind,
      length: text.length }, 'IRC command');
    try {
      await this.handler(inbound, respond);
    } catch (error) {
      this.log.error({ err: error, nick }, 'command handler failed');
    }
  }

  private ready(target: string | undefined): boolean {
    if (!this.registered || !this.client.connected) return false;
    if (target === undefined || !this.isChannel(target)) return true;
    return this.channels.has(target);
  }

  private write(line: string): void {
    // Last line of defence: the queue only builds lines from sanitized text.
    if (/[\r\n\0]/.test(line)) {
      this.log.error({ bytes: byteLength(line) }, 'refused to send a line with CR, LF or NUL');
      return;
    }
    this.client.raw(line);
  }

  /** Bytes of `nick!user@host` as relayed; a worst case until the server shows the real one. */
  private prefixBytes(): number {
    return this.own.bytes(this.client.user.nick, this.client.network.options);
  }

  private isChannel(target: string): boolean {
    const types = this.client.network.options.CHANTYPES;
    const prefixes = Array.isArray(types) ? types : ['#', '&'];
    return prefixes.includes(target.charAt(0));
  }

  private isMe(nick: string | undefined): boolean {
    return nick !== undefined && this.fold(nick) === this.fold(this.client.user.nick);
  }

  private fold(text: string): string {
    return foldCase(text, this.client.network.options.CASEMAPPING);
  }
}
