/**
 * A raw IRC client for tests. It keeps every line as the server sent it, so tests can measure
 * the 512-byte limit and UTF-8 validity on what was really relayed. Exported via ircd.ts.
 */
import net from 'node:net';

const WAIT_MS = 8_000;
const decoder = new TextDecoder('utf-8', { fatal: true });

export interface ReceivedLine {
  /** The line without CRLF, decoded leniently. */
  raw: string;
  /** Bytes on the wire including the CRLF. */
  bytes: number;
  /** Whether the bytes were valid UTF-8. */
  utf8: boolean;
  tags: Record<string, string>;
  /** nick (or server) of the prefix; '' when none. */
  nick: string;
  prefix: string;
  command: string;
  params: string[];
}

export interface ConnectOptions {
  nick: string;
  /** Log in with NickServ IDENTIFY after connecting. */
  login?: { account: string; password: string };
  /** IRCv3 capabilities to request (e.g. account-tag). */
  caps?: string[];
}

interface Target {
  host: string;
  port: number;
}

export class IrcTestClient {
  readonly lines: ReceivedLine[] = [];
  /** Index after the last line a waitFor matched; where the next waitFor starts by default. */
  cursor = 0;
  private buffer = Buffer.alloc(0);
  private readonly listeners = new Set<() => void>();
  private closed = false;

  private constructor(private readonly socket: net.Socket, public nick: string) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static async connect(server: Target, options: ConnectOptions): Promise<IrcTestClient> {
    const socket = net.connect(server.port, server.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new IrcTestClient(socket, options.nick);
    try {
      if (options.caps?.length) {
        client.send(`CAP REQ :${options.caps.join(' ')}`);
      }
      client.send(`NICK ${options.nick}`);
      client.send(`USER ${options.nick.toLowerCase()} 0 * :test client`);
      if (options.caps?.length) {
        await client.waitFor((l) => l.command === 'CAP');
        client.send('CAP END');
      }
      await client.waitFor((l) => l.command === '001');
      if (options.login) {
        await client.identify(options.login.account, options.login.password);
      }
    } catch (error) {
      // Nobody else holds this client: an open socket would keep the test process alive.
      socket.destroy();
      throw error;
    }
    return client;
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  say(target: string, text: string): void {
    this.send(`PRIVMSG ${target} :${text}`);
  }

  async join(channel: string): Promise<void> {
    this.send(`JOIN ${channel}`);
    await this.waitFor((l) => l.command === '366' && l.params[1] === channel);
  }

  async identify(account: string, password: string): Promise<void> {
    this.say('NickServ', `IDENTIFY ${account} ${password}`);
    await this.waitFor((l) => l.command === '900');
  }

  async logout(): Promise<void> {
    this.say('NickServ', 'LOGOUT');
    await this.waitFor((l) => l.command === '901');
  }

  /**
   * The first line from `from` (default: this.cursor) matching `predicate`; moves the cursor
   * past it. Rejects after `timeoutMs` or when the connection closes.
   */
  async waitFor(
    predicate: (line: ReceivedLine) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<ReceivedLine> {
    let index = options.from ?? this.cursor;
    const deadline = Date.now() + (options.timeoutMs ?? WAIT_MS);
    for (;;) {
      for (; index < this.lines.length; index++) {
        if (predicate(this.lines[index])) {
          this.cursor = index + 1;
          return this.lines[index];
        }
      }
      if (this.closed) throw new Error(`${this.nick}: connection closed while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.nick}: timed out waiting for a line`);
      await this.nextLine(left);
    }
  }

  /** Messages (PRIVMSG) from `nick` received at or after `from`. */
  messagesFrom(nick: string, from = 0): ReceivedLine[] {
    return this.lines.slice(from).filter(
      (l) => l.command === 'PRIVMSG' && l.nick.toLowerCase() === nick.toLowerCase(),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise((resolve) => this.socket.once('close', resolve));
    this.send('QUIT :bye');
    setTimeout(() => this.socket.destroy(), 500).unref();
    await done;
  }

  private nextLine(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const listeners = this.listeners;
      function done(): void {
        clearTimeout(timer);
        listeners.delete(done);
        resolve();
      }
      listeners.add(done);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    let end: number;
    while ((end = this.buffer.indexOf('\n')) !== -1) {
      const bytes = this.buffer.subarray(0, end + 1);
      this.buffer = this.buffer.subarray(end + 1);
      const line = parse(bytes);
      if (line.command === 'PING') this.send(`PONG :${line.params[0] ?? ''}`);
      this.lines.push(line);
    }
    this.notify();
  }
}

function parse(bytes: Buffer): ReceivedLine {
  let utf8 = true;
  try {
    decoder.decode(bytes);
  } catch {
    utf8 = false;
  }
  let rest = bytes.toString('utf8').replace(/\r?\n$/, '');
  const raw = rest;
  const tags: Record<string, string> = {};
  if (rest.startsWith('@')) {
    const space = rest.indexOf(' ');
    for (const tag of rest.slice(1, space).split(';')) {
      const eq = tag.indexOf('=');
      tags[eq === -1 ? tag : tag.slice(0, eq)] = eq === -1 ? '' : tag.slice(eq + 1);
    }
    rest = rest.slice(space + 1);
  }
  let prefix = '';
  if (rest.startsWith(':')) {
    const space = rest.indexOf(' ');
    prefix = rest.slice(1, space);
    rest = rest.slice(space + 1);
  }
  const trailingAt = rest.indexOf(' :');
  const head = trailingAt === -1 ? rest : rest.slice(0, trailingAt);
  const params = head.split(' ').filter((p) => p !== '');
  const command = (params.shift() ?? '').toUpperCase();
  if (trailingAt !== -1) params.push(rest.slice(trailingAt + 2));
  return {
    raw, bytes: bytes.length, utf8, tags, nick: prefix.split('!')[0], prefix, command, params,
  };
}
