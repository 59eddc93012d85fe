/**
 * What the bot said after one watcher poll, on IRC and in the terminal at once: the lines a crew
 * client saw in the alert channel, the lines the owner's client got privately, and the shell
 * adapter's messages. For test/alerts-irc.test.ts.
 *
 *   const witness = new AlertsWitness({ bot: 'crewvz', alerts: '#ops', crew, owner });
 *   const from = witness.marks();
 *   await rig.poll();
 *   const seen = await witness.collect(from, rig.screen);
 *   assertChannel(seen, ['Beancounters on node1: 1 VE hit a limit since the last check.', /…/]);
 */
import assert from 'node:assert/strict';

import type { Screen } from './alerts-rig.ts';
import type { IrcTestClient, ReceivedLine } from './ircd.ts';

const WAIT_MS = 15_000;

export interface Seen {
  /** Lines in the IRC alert channel. */
  alerts: string[];
  /** Lines to the owner's nick. */
  owner: string[];
  /** The terminal's `[alerts]` messages, each as its lines, without the prefix. */
  shellAlerts: string[][];
  /** The terminal's other messages (private ones to shell identities). */
  shellOther: string[][];
}

export interface Marks {
  crew: number;
  owner: number;
}

export interface WitnessOptions {
  bot: string;
  alerts: string;
  /** A client in the alert channel. */
  crew: IrcTestClient;
  /** The VE owner's client, logged in to their account. */
  owner: IrcTestClient;
}

export function fromBot(bot: string, target: string, pattern: RegExp) {
  return (l: ReceivedLine): boolean => l.command === 'PRIVMSG' && l.nick === bot &&
    l.params[0] === target && pattern.test(l.params[1]);
}

export class AlertsWitness {
  constructor(private readonly options: WitnessOptions) {}

  /** Where each client's output of the next poll starts. */
  marks(): Marks {
    return { crew: this.options.crew.lines.length, owner: this.options.owner.lines.length };
  }

  /**
   * Everything the bot said since `from`. The bot's IRC output is one queue, so its answer to a
   * `!whoami` asked now comes after everything queued before it, on each client's connection.
   * The bot must allow these commands (no per-person command limit in the test's config).
   */
  async collect(from: Marks, screen: Screen): Promise<Seen> {
    const { bot, alerts, crew, owner } = this.options;
    const asked = this.marks();
    crew.say(alerts, '!whoami');
    owner.say(bot, '!whoami');
    const [crewEnd, ownerEnd] = await Promise.all([
      crew.waitFor(fromBot(bot, alerts, /you are /), { from: asked.crew, timeoutMs: WAIT_MS }),
      owner.waitFor(fromBot(bot, owner.nick, /you are /),
        { from: asked.owner, timeoutMs: WAIT_MS }),
    ]);
    const said = (client: IrcTestClient, start: number, end: ReceivedLine, target: string) =>
      client.lines.slice(start, client.lines.indexOf(end))
        .filter(fromBot(bot, target, /./)).map((line) => line.params[1]);

    const shell = screen.take();
    const isAlert = (message: string[]): boolean => message[0]?.startsWith('[alerts] ') ?? false;
    return {
      alerts: said(crew, from.crew, crewEnd, alerts),
      owner: said(owner, from.owner, ownerEnd, owner.nick),
      shellAlerts: shell.filter(isAlert)
        .map((message) => message.map((line) => line.replace(/^\[alerts\] /, ''))),
      shellOther: shell.filter((message) => !isAlert(message)),
    };
  }
}

/**
 * The alert channel got exactly these lines (a RegExp for a line with values), the same on IRC
 * and as one message in the terminal.
 */
export function assertChannel(seen: Seen, expected: ReadonlyArray<string | RegExp>): void {
  assert.equal(seen.alerts.length, expected.length, seen.alerts.join('\n'));
  expected.forEach((line, index) => {
    const actual = seen.alerts[index] ?? '';
    if (typeof line === 'string') {
      assert.equal(actual, line);
    } else {
      assert.match(actual, line);
    }
  });
  assert.deepEqual(seen.shellAlerts, expected.length === 0 ? [] : [seen.alerts]);
}

export function assertQuiet(seen: Seen, why: string): void {
  assert.deepEqual(seen, { alerts: [], owner: [], shellAlerts: [], shellOther: [] }, why);
}
