/**
 * The terminal adapter: every line is a message from the person at the keyboard, who is
 * `shell:<login>` (a login the operating system vouches for). In the demo, `/as IDENTITY`
 * switches who that is, to try another role's side, and `/as -` makes you unidentified; in the
 * real bot the terminal user stays who the system says, so `/as` is refused. `/quit` ends. Lines
 * are handled one at a time, in order, so piped input gives the same answers as typed input.
 */
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';

import type {
  ChatAdapter,
  Destination,
  InboundMessage,
  MessageHandler,
  Reply,
} from './types.ts';
import type { Logger } from '../src/log.ts';
import { IDENTITY_PATTERN as IDENTITY } from '../src/roles.ts';

export interface ShellAdapterOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The operating-system login of the person at the terminal: they are `shell:<login>`. */
  login: string;
  /** Show a prompt; only worth it when a person types. */
  prompt?: boolean;
  /**
   * Let `/as IDENTITY` switch who is typing. Only the demo turns it on: in a real bot anyone at
   * the terminal could make themselves an admin with it.
   */
  allowAs?: boolean;
  /** Where a line the handler failed on is logged; the session goes on with the next line. */
  logger?: Logger;
}

const ROOM = 'terminal';

const ID = /^[^\s\p{Cc}:]+$/u;

export class ShellAdapter implements ChatAdapter {
  readonly name = 'shell';
  private identity: string | null;
  private display: string;
  private readline: Interface | null = null;
  /** True while the prompt waits for typing, when unprompted output must redraw it. */
  private atPrompt = false;
  /** True once the terminal side is closed: nothing may prompt (and so resume input) again. */
  private closed = false;
  /** True once Ctrl-C or stop() asked to end: lines still buffered are dropped. */
  private stopRequested = false;
  /** True while a command line is being handled. */
  private busy = false;
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
    const readline = createInterface({ input, output, terminal: prompt });
    this.readline = readline;
    readline.once('close', () => {
      this.closed = true;
      this.atPrompt = false;
    });
    // Ctrl-C at the prompt ends the session like /quit (readline would only pause otherwise).
    // Closing also leaves raw mode, so a second Ctrl-C reaches the process as a real SIGINT.
    readline.on('SIGINT', () => {
      if (this.busy) {
        output.write('\nstopping after the command in progress (Ctrl-C again to quit now)\n');
      }
      this.stopRequested = true;
      readline.close();
    });
    void this.loop(readline, handler, prompt);
  }

  private async loop(readline: Interface, handler: MessageHandler, prompt: boolean) {
    const showPrompt = (): void => {
      // A prompt on a closed interface would resume the input stream and keep the process
      // alive with nobody reading it.
      if (prompt && !this.closed) {
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
          this.busy = true;
          try {
            await handler(this.message(line), (reply) => this.print(reply));
          } catch (error) {
            // One broken command must not end the session (an unhandled rejection would).
            this.options.logger?.error({ err: error, adapter: this.name }, 'line not handled');
            const note = { lines: ['that command could not be handled; the log says why'] };
            await this.print(note).catch(() => undefined);
          } finally {
            this.busy = false;
          }
        }
        // Input that ended is still read to its last line; a stop ends the loop here.
        if (this.stopRequested) {
          break;
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
    const space = line.search(/\s/);
    const command = space === -1 ? line : line.slice(0, space);
    const who = space === -1 ? '' : line.slice(space).trim();

    if (command !== '/as') {
      const as = this.options.allowAs ? '/as IDENTITY (or /as - for nobody), ' : '';
      this.write([`terminal commands: ${as}/quit`]);
      return;
    }
    if (!this.options.allowAs) {
      this.write([
        `/as is only available in the demo (npm start); here you are ${this.identity ?? '-'}`,
      ]);
      return;
    }
    if (who === '-') {
      this.identity = null;
      this.display = 'someone';
      this.write(['you are now unidentified']);
      return;
    }
    const identity = IDENTITY.test(who) ? who : ID.test(who) ? `shell:${who}` : null;
    if (identity === null) {
      this.write([
        'usage: /as IDENTITY, written adapter:id (shell:bob, irc:alice) or just a login (bob), ' +
          'with no spaces or control characters; /as - for nobody',
      ]);
      return;
    }
    this.identity = identity;
    this.display = displayOf(identity);
    this.write([`you are now ${identity}`]);
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

  /**
   * Reply actions (buttons) are left out: a terminal cannot click them, and the text of every
   * reply that has them already names the commands.
   */
  private async print(reply: Reply, prefix = ''): Promise<void> {
    this.write(reply.lines.map((line) => `${prefix}${line}`));
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
    this.stopRequested = true;
    this.readline?.close();
    await this.done;
  }
}

function displayOf(identity: string): string {
  return identity.slice(identity.indexOf(':') + 1);
}
