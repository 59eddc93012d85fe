/**
 * The contract between chat adapters and the command core. Adapters turn chat traffic into
 * InboundMessage events and Replies back into chat; they know nothing of commands or agents.
 */

export type ConversationKind = 'channel' | 'private';

/** Where a message was said. `room` and `thread` are opaque to the core. */
export interface Conversation {
  kind: ConversationKind;
  room: string;
  thread?: string;
}

export interface Sender {
  /**
   * `adapter:id` from an identity the chat network vouches for (an IRC services account, a Slack
   * user id, a shell login), or null when the network vouches for nothing (an IRC user with no
   * account). Never a nickname.
   */
  identity: string | null;
  /** What to call the person in replies (a nick, a display name). */
  display: string;
}

export interface InboundMessage {
  adapter: string;
  /** Stable across redeliveries of the same chat event, for exactly-once handling. */
  eventId?: string;
  sender: Sender;
  conversation: Conversation;
  text: string;
  /**
   * How someone this network does not vouch for gets an identity, in this network's words
   * (`/msg NickServ IDENTIFY account password`); the core adds it to its replies to them.
   */
  identifyHint?: string;
}

/** A button a graphical adapter may draw; clicking it runs `command` as the person who clicked. */
export interface ReplyAction {
  label: string;
  command: string;
  style?: 'primary' | 'danger';
}

export interface Reply {
  lines: string[];
  /**
   * Long output (help, tables, lists). An adapter whose channels punish floods sends it to the
   * asker privately and leaves `summary` (or a short default) in the channel.
   */
  long?: boolean;
  summary?: string;
  actions?: ReplyAction[];
}

export type Destination =
  /** The adapter's channel for alerts and announcements. */
  | { kind: 'alerts' }
  /** A private message to one person, by identity (`irc:alice`). */
  | { kind: 'user'; identity: string }
  | { kind: 'conversation'; conversation: Conversation };

export type Respond = (reply: Reply) => Promise<void>;

export type MessageHandler = (message: InboundMessage, respond: Respond) => Promise<void>;

export interface ChatAdapter {
  /** The identity prefix this adapter vouches for: `irc`, `slack`, `shell`. */
  readonly name: string;
  start(handler: MessageHandler): Promise<void>;
  stop(): Promise<void>;
  /** Unprompted output. Made while disconnected, it is queued and delivered after reconnecting. */
  send(destination: Destination, reply: Reply): Promise<void>;
}
