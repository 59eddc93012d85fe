/**
 * The small part of irc-framework (4.x, ships no types) that adapters/irc.ts uses. The adapter
 * reads parsed lines through raw middleware and writes whole lines with `raw`, so only the
 * connection, CAP/SASL negotiation and ISUPPORT parsing come from the library.
 */
declare module 'irc-framework' {
  export interface IrcMessage {
    tags: Record<string, string>;
    /** `nick!user@host` or a server name; '' when absent. */
    prefix: string;
    nick: string;
    ident: string;
    hostname: string;
    /** Upper-cased command or three-digit numeric. */
    command: string;
    params: string[];
  }

  export interface ClientOptions {
    host: string;
    port: number;
    tls?: boolean;
    rejectUnauthorized?: boolean;
    nick: string;
    username?: string;
    gecos?: string;
    /** SASL PLAIN credentials. */
    account?: { account: string; password: string };
    auto_reconnect?: boolean;
    /** Seconds between client PINGs; 0 turns them off. */
    ping_interval?: number;
    /** Seconds of silence before the connection is dropped. */
    ping_timeout?: number;
    version?: string | null;
    sasl_disconnect_on_fail?: boolean;
    /** Request the chghost capability (a CHGHOST line when our user or host changes). */
    enable_chghost?: boolean;
  }

  export type RawMiddleware = (
    command: string,
    message: IrcMessage,
    rawLine: string,
    client: Client,
    next: (error?: unknown) => void,
  ) => void;

  export interface MiddlewareStack<F> {
    use(fn: F): void;
  }

  export interface NetworkInfo {
    /** ISUPPORT tokens, upper-cased; CASEMAPPING defaults to 'rfc1459'. */
    options: Record<string, unknown> & { CASEMAPPING: string };
    cap: { enabled: string[]; isEnabled(name: string): boolean };
    supports(feature: string): unknown;
  }

  export class Client {
    constructor(options?: ClientOptions);
    readonly connected: boolean;
    readonly network: NetworkInfo;
    readonly user: { nick: string; username: string; host: string };
    connect(options?: ClientOptions): void;
    /** Writes one line as given (no CRLF). */
    raw(line: string): void;
    quit(message?: string): void;
    use(
      plugin: (
        client: Client,
        raw: MiddlewareStack<RawMiddleware>,
        parsed: MiddlewareStack<(...args: unknown[]) => void>,
      ) => void,
    ): this;
    on(event: string, listener: (...args: any[]) => void): this;
    removeAllListeners(event?: string): this;
  }

  const irc: { Client: typeof Client };
  export default irc;
}
