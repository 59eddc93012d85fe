/**
 * The terminal adapter: every line is a message from the person at the keyboard, who is
 * `shell:<login>` (a login the operating system vouches for). `/as IDENTITY` switches who that
 * is, to try another role's side; `/as -` makes you unidentified; `/quit` ends. Lines are handled
 * one at a time, in order, so piped input gives the same answers as typed input.
 */
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';

import type {
  ChatAdapter,
  Destination,
  InboundMessage,
  MessageHandler,
  Reply,
} from './types.ts';

export interface ShellAdapterOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The operating-system login of the person at the terminal. */
  login: string;
  /** Show a prompt; only worth it when a person types. */
  prompt?: boolean;
}

const ROOM = 'terminal';

export class ShellAdapter implements ChatAdapter {
  readonly name = 'shell';
  private identity: string | null;
  private display: string;
  private readline: Interface | null = null;
  /** True while the prompt waits for typing, when unprompted output must redraw it. */
  private atPrompt = false;
  private finished!: () => void;
  /** Settles when input ends (or /quit) and the last line's handler has returned. */
  readonly done: Promise<void>;

  constructor(private readonly options: ShellAdapterOptions) {
    this.identity = `shell:${options.login}`;
    this.display = options.login;
    this.done = new Promise((resolve) => {
      this.finished = resolve;
    });
  }

  async start(handler: MessageHandler): Promise<void> {
    const { input, output } = this.options;
    const prompt = this.options.prompt ?? false;
    this.readline = createInterface({ input, output, terminal: prompt });
    // Ctrl-C at the prompt ends the session like /quit (readline would only pause otherwise).
    this.readline.on('SIGINT', () => this.readline?.close());
    void this.loop(this.readline, handler, prompt);
  }

  private async loop(readline: Interface, handler: MessageHandler, prompt: boolean) {
    const showPrompt = (): void => {
      if (prompt) {
        readline.setPrompt(`${this.identity ?? 'unidentified'}> `);
        readline.prompt();
        this.atPrompt = true;
      }
    };
    showPrompt();

    try {
      for await (const raw of readline) {
        this.atPrompt = false;
        const line = raw.trim();
        if (line === '/quit' || line === '/exit') {
          break;
        }
        if (line.startsWith('/')) {
          this.shellCommand(line);
        } else if (line !== '') {
          await handler(this.message(line), (reply) => this.print(reply));
        }
        showPrompt();
      }
    } finally {
      readline.close();
      this.finished();
    }
  }

  private message(text: string): InboundMessage {
    return {
      adapter: this.name,
      sender: { identity: this.identity, display: this.display },
      conversation: { kind: 'private', room: ROOM },
      text,
    };
  }

  private shellCommand(line: string): void {
    const [command, who] = line.split(/\s+/, 2);
    if (command !== '/as' || who === undefined) {
      this.write(['terminal commands: /as IDENTITY (or /as - for nobody), /quit']);
      return;
    }
    if (who === '-') {
      this.identity = null;
      this.display = 'someone';
    } else {
      this.identity = who.includes(':') ? who : `shell:${who}`;
      this.display = this.identity.slice(this.identity.indexOf(':') + 1);
    }
    this.write([`you are now ${this.identity ?? 'unidentified'}`]);
  }

  private write(lines: string[]): void {
    const { output } = this.options;
    const text = `${lines.join('\n')}\n`;
    if (!this.atPrompt || this.readline === null) {
      output.write(text);
      return;
    }
    // An alert while someone types: wipe the prompt line, print, then redraw the prompt with
    // whatever was typed so far, so the two never run into each other.
    clearLine(output, 0);
    cursorTo(output, 0);
    output.write(text);
    this.readline.prompt(true);
  }

  private async print(reply: Reply, prefix = ''): Promise<void> {
    const lines = reply.lines.map((line) => `${prefix}${line}`);
    if (reply.actions?.length) {
      lines.push(`${prefix}  ${reply.actions.map((a) => `[${a.label}: ${a.command}]`).join(' ')}`);
    }
    this.write(lines);
  }

  async send(destination: Destination, reply: Reply): Promise<void> {
    if (destination.kind === 'alerts') {
      await this.print(reply, '[alerts] ');
    } else if (destination.kind === 'user') {
      await this.print(reply, `[to ${destination.identity}] `);
    } else {
      await this.print(reply, `[${destination.conversation.room}] `);
    }
  }

  async stop(): Promise<void> {
    this.readline?.close();
    await this.done;
  }
}
