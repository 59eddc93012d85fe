/**
 * The IRC adapter against a real InspIRCd + Atheme, with a small test handler instead of the
 * bot core. The server's flood limit is strict (a burst of 20 commands, 8 a second), so a
 * client that floods is disconnected, which the bot must never be.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIrcConfig } from '../adapters/irc-config.ts';
import { IrcAdapter } from '../adapters/irc.ts';
import type { InboundMessage, MessageHandler } from '../adapters/types.ts';
import { silentLogger } from '../src/log.ts';
import {
  IrcTestClient,
  registerAccount,
  startIrcServer,
  type IrcServer,
  type ReceivedLine,
} from './helpers/ircd.ts';

const BOT = 'crewbot';
const CHANNEL = '#openvz';
const LOCKED = '#crew';
const ALICE = { account: 'alice', password: 'alice-pass-1' };
const MIXED = 'Приветствую, студент! 日本語のテキスト 👩‍💻 e\u0301 ';
const BIG_TEXT = `${MIXED.repeat(30)}${'ÿ'.repeat(300)}`;

const seen: InboundMessage[] = [];
/** `!held` answers only when the test calls this, e.g. once the bot is on a new connection. */
let releaseHeld: () => void = () => undefined;

const handler: MessageHandler = async (message, respond) => {
  seen.push(message);
  // As the dispatcher does: in private the `!` may be left out.
  const [word, ...rest] = message.text.replace(/^!/, '').split(/\s+/);
  switch (word.toLowerCase()) {
    case 'echo':
      return respond({ lines: [rest.join(' ')] });
    case 'whoami':
      return respond({ lines: [`${message.sender.display} is ${message.sender.identity ?? 'nobody'}`] });
    case 'utf8':
      return respond({ lines: [BIG_TEXT, 'one\r\ntwo\0three'] });
    case 'flood':
      return respond({ lines: Array.from({ length: 30 }, (_, i) => `flood line ${i + 1}`) });
    case 'help':
      return respond({
        long: true,
        summary: 'help is in your private messages',
        lines: Array.from({ length: 8 }, (_, i) => `help line ${i + 1}`),
      });
    case 'slow':
      await sleep(1500);
      return respond({ lines: ['slow answer'] });
    case 'held':
      await new Promise<void>((resolve) => {
        releaseHeld = resolve;
      });
      return respond({ lines: ['held answer'] });
    default:
  }
};

const fromBot = (target: string) => (l: ReceivedLine): boolean =>
  l.command === 'PRIVMSG' && l.nick === BOT && l.params[0] === target;

let pings = 0;

/**
 * Returns once the server has answered a PING from `client`: it has then relayed everything
 * the client sent before, and written to the client everything it had for it before.
 */
async function synced(client: IrcTestClient): Promise<void> {
  const token = `sync${++pings}`;
  const from = client.lines.length;
  client.send(`PING :${token}`);
  await client.waitFor((l) => l.command === 'PONG' && l.params.at(-1) === token, { from });
}

/**
 * A TCP pass-through between the bot and the server. Closing the gate refuses the bot's
 * reconnects, so after a restart the test's own client is in the channel before the bot is.
 */
async function startGate(upstreamPort: number): Promise<{
  port: number; open: boolean; close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const gate = {
    port: 0,
    open: true,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      relay.close(() => resolve());
    }),
  };
  const relay = net.createServer((inbound) => {
    if (!gate.open) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(upstreamPort, '127.0.0.1');
    for (const [a, b] of [[inbound, outbound], [outbound, inbound]]) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  gate.port = (relay.address() as net.AddressInfo).port;
  return gate;
}

describe('IrcAdapter on InspIRCd + Atheme', () => {
  let server: IrcServer;
  let gate: Awaited<ReturnType<typeof startGate>>;
  let bot: IrcAdapter;
  let watcher: IrcTestClient;
  const clients: IrcTestClient[] = [];

  async function client(nick: string, login?: typeof ALICE): Promise<IrcTestClient> {
    const c = await IrcTestClient.connect(server, { nick, ...(login ? { login } : {}) });
    clients.push(c);
    await c.join(CHANNEL);
    return c;
  }

  before(async () => {
    server = await startIrcServer({ flood: { threshold: 20, commandsPerSecond: 8 } });
    await registerAccount(server, ALICE.account, ALICE.password);

    // An invite-only channel the bot is refused from until the test opens it.
    watcher = await client('watcher');
    watcher.send(`JOIN ${LOCKED}`);
    watcher.send(`MODE ${LOCKED} +i`);
    await watcher.waitFor((l) => l.command === 'MODE' && l.params[0] === LOCKED);

    gate = await startGate(server.port);
    const config = parseIrcConfig({
      host: '127.0.0.1',
      port: gate.port,
      nick: BOT,
      channels: [CHANNEL, LOCKED],
      rate: { burst: 5, linesPerSecond: 6, userBurst: 4, userPerMinute: 30 },
      reconnect: { minMs: 200, maxMs: 1000 },
    }, 'adapters.irc');
    bot = new IrcAdapter({ ...config, logger: silentLogger() });
    await bot.start(handler);
    await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === BOT, { from: 0 });
  });

  after(async () => {
    await bot?.stop();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await gate?.close();
    await server?.stop();
  });

  it('treats a client with no account as nobody, even under a crew nick', async () => {
    const impostor = await client(ALICE.account);
    impostor.say(CHANNEL, '!whoami');
    const reply = await watcher.waitFor(fromBot(CHANNEL));
    assert.equal(reply.params[1], 'alice is nobody');
    assert.equal(seen.at(-1)?.sender.identity, null);
    assert.deepEqual(seen.at(-1)?.conversation, { kind: 'channel', room: CHANNEL });
    await impostor.close();
  });

  it('vouches for the services account whatever the nick, and forgets it on logout', async () => {
    const real = await client('al2', ALICE);
    real.say(CHANNEL, '!whoami');
    assert.equal((await watcher.waitFor(fromBot(CHANNEL))).params[1], 'al2 is irc:alice');

    // Private commands are answered privately.
    real.say(BOT, '!WHOAMI');
    assert.equal((await real.waitFor(fromBot('al2'))).params[1], 'al2 is irc:alice');

    // Output for the account finds the nick logged in as it.
    await bot.send({ kind: 'user', identity: 'irc:alice' }, { lines: ['for alice, 1'] });
    assert.equal((await real.waitFor(fromBot('al2'))).params[1], 'for alice, 1');

    await real.logout();
    real.say(CHANNEL, '!whoami');
    assert.equal((await watcher.waitFor(fromBot(CHANNEL))).params[1], 'al2 is nobody');

    // Logged out, nobody is alice: the message waits until someone logs in as alice.
    const mark = real.lines.length;
    await bot.send({ kind: 'user', identity: 'irc:alice' }, { lines: ['for alice, 2'] });
    // Sentinel: output goes out in order, so anything for al2 would come before this answer.
    real.say(BOT, '!echo sentinel');
    await real.waitFor((l) => fromBot('al2')(l) && l.params[1] === 'sentinel', { from: mark });
    const toAl2 = real.messagesFrom(BOT, mark).filter((l) => l.params[0] === 'al2');
    assert.deepEqual(toAl2.map((l) => l.params[1]), ['sentinel']);
    await real.identify(ALICE.account, ALICE.password);
    assert.equal((await real.waitFor(fromBot('al2'))).params[1], 'for alice, 2');
  });

  it('splits multibyte replies into valid UTF-8 lines of at most 512 bytes as relayed', async () => {
    const asker = await client('utfan');
    const mark = watcher.lines.length;
    asker.say(CHANNEL, '!utf8');
    await watcher.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'twothree');

    const lines = watcher.messagesFrom(BOT, mark);
    assert.ok(lines.length >= 6, `expected the long text split, got ${lines.length} lines`);
    for (const line of lines) {
      assert.ok(line.bytes <= 512, `relayed line of ${line.bytes} bytes`);
      assert.ok(line.utf8, 'relayed line is not valid UTF-8');
      assert.doesNotMatch(line.params[1], /[\r\0]/);
    }
    const texts = lines.map((l) => l.params[1]);
    // CR/LF start new lines; NUL is dropped.
    assert.deepEqual(texts.slice(-2), ['one', 'twothree']);
    const squash = (s: string): string => s.replace(/\s+/g, '');
    assert.equal(squash(texts.slice(0, -2).join('')), squash(BIG_TEXT));
    assert.ok(lines.some((l) => l.bytes > 480), 'lines should use most of the 512 bytes');
  });

  it('sends 30 lines without being disconnected for flooding, where a raw client is', async () => {
    const flooder = await client('flooder');
    for (let i = 0; i < 40; i++) flooder.say(CHANNEL, `flood ${i}`);
    await flooder.waitFor((l) => l.command === 'ERROR' && /flood/i.test(l.params[0] ?? ''));

    const asker = await client('asker');
    const mark = watcher.lines.length;
    asker.say(CHANNEL, '!flood');
    await watcher.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'flood line 30', {
      timeoutMs: 15_000,
    });
    const texts = watcher.messagesFrom(BOT, mark).map((l) => l.params[1]);
    assert.deepEqual(texts, Array.from({ length: 30 }, (_, i) => `flood line ${i + 1}`));

    asker.say(CHANNEL, '!whoami');
    assert.equal((await watcher.waitFor(fromBot(CHANNEL))).params[1], 'asker is nobody');
  });

  it('sends long replies privately with one line in the channel', async () => {
    const asker = await client('helpme');
    const mark = watcher.lines.length;
    asker.say(CHANNEL, '!help');
    await asker.waitFor((l) => fromBot('helpme')(l) && l.params[1] === 'help line 8');
    const inChannel = await watcher.waitFor(fromBot(CHANNEL));
    assert.equal(inChannel.params[1], 'helpme: help is in your private messages');
    asker.say(CHANNEL, '!whoami');
    await watcher.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'helpme is nobody');
    assert.deepEqual(watcher.messagesFrom(BOT, mark).map((l) => l.params[1]),
      ['helpme: help is in your private messages', 'helpme is nobody']);
    assert.equal(asker.messagesFrom(BOT).filter((l) => l.params[0] === 'helpme').length, 8);
  });

  it('answers a person over the command limit once, politely, then ignores them', async () => {
    const eager = await client('eager');
    const mark = eager.lines.length;
    for (let i = 0; i < 8; i++) eager.say(BOT, '!whoami');
    await eager.waitFor((l) => fromBot('eager')(l) && /too many commands/.test(l.params[1]));

    // eager's own sentinel would be dropped: another person's command, once the server has
    // relayed all eight, is handled after them, and its answer is sent after theirs.
    await synced(eager);
    watcher.say(BOT, '!echo after eager');
    await watcher.waitFor((l) => fromBot('watcher')(l) && l.params[1] === 'after eager');
    await synced(eager);
    const texts = eager.messagesFrom(BOT, mark).map((l) => l.params[1]).sort();
    assert.deepEqual(texts, [
      ...Array.from({ length: 4 }, () => 'eager is nobody'),
      'eager: that is too many commands at once; wait a minute, then try again.',
    ]);
  });

  it('takes a private command without !, and ignores a bare word in the channel', async () => {
    const plain = await client('plain');
    plain.say(BOT, 'whoami');
    assert.equal((await plain.waitFor(fromBot('plain'))).params[1], 'plain is nobody');
    assert.deepEqual(seen.at(-1)?.conversation, { kind: 'private', room: 'plain' });

    const mark = seen.length;
    const watched = watcher.lines.length;
    plain.say(CHANNEL, 'whoami');
    plain.say(CHANNEL, '!echo sentinel');
    await watcher.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'sentinel',
      { from: watched });
    assert.deepEqual(seen.slice(mark).map((m) => m.text), ['!echo sentinel']);
    assert.deepEqual(watcher.messagesFrom(BOT, watched).map((l) => l.params[1]), ['sentinel']);
  });

  it('retries a refused JOIN until the channel lets it in', async () => {
    watcher.send(`MODE ${LOCKED} -i`);
    await watcher.waitFor((l) => l.command === 'JOIN' && l.nick === BOT && l.params[0] === LOCKED);
  });

  it('ignores NOTICEs, as other bots send them, and answers the next PRIVMSG', async () => {
    const other = await client('otherbot');
    const mark = seen.length;
    const watched = watcher.lines.length;
    other.send(`NOTICE ${CHANNEL} :!whoami`);
    other.send(`NOTICE ${BOT} :!whoami`);
    other.say(CHANNEL, '!whoami');

    // The server relays in order: by the PRIVMSG's answer, both NOTICEs have reached the bot.
    await watcher.waitFor(fromBot(CHANNEL), { from: watched });
    assert.deepEqual(seen.slice(mark).map((m) => m.text), ['!whoami']);
    assert.deepEqual(watcher.messagesFrom(BOT, watched).map((l) => l.params[1]),
      ['otherbot is nobody']);
  });

  it('ignores its own lines, even a command it sent to itself', async () => {
    const mark = seen.length;
    const self = { kind: 'private', room: BOT } as const;
    await bot.send({ kind: 'conversation', conversation: self }, { lines: ['!whoami'] });
    await bot.send({ kind: 'alerts' }, { lines: ['after the self-message'] });

    await watcher.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'after the self-message');
    // The server relayed the bot's line to itself before the alert, so before this sentinel.
    watcher.say(BOT, '!echo after self');
    await watcher.waitFor((l) => fromBot('watcher')(l) && l.params[1] === 'after self');
    assert.deepEqual(seen.slice(mark).map((m) => m.text), ['!echo after self']);
  });

  it('reconnects after the server restarts, rejoins, delivers queued output, answers once',
    async () => {
      const asker = await client('slowpoke');
      asker.say(CHANNEL, '!slow');
      await waitUntil(() => seen.at(-1)?.text === '!slow');

      gate.open = false;
      await server.killIrcd();
      clients.length = 0;
      // A line written in the instant before the bot sees the drop is lost (IRC has no acks).
      await waitUntil(() => !bot.online);
      await bot.send({ kind: 'alerts' }, { lines: ['alert made while down'] });
      await server.startIrcd();

      const back = await client('back');
      gate.open = true;
      await back.waitFor((l) => l.command === 'JOIN' && l.nick === BOT, { timeoutMs: 15_000 });
      const texts = new Set<string>();
      await back.waitFor((l) => {
        if (fromBot(CHANNEL)(l)) texts.add(l.params[1]);
        return texts.has('slow answer') && texts.has('alert made while down');
      });

      const mark = back.lines.length;
      for (let i = 0; i < 3; i++) back.say(CHANNEL, `!whoami ${i}`);
      // A second handler left over from the first connection would answer twice, before this.
      back.say(CHANNEL, '!echo sentinel');
      await back.waitFor((l) => fromBot(CHANNEL)(l) && l.params[1] === 'sentinel', { from: mark });
      const answers = back.messagesFrom(BOT, mark).map((l) => l.params[1]);
      assert.deepEqual(answers, ['back is nobody', 'back is nobody', 'back is nobody', 'sentinel']);
    });

  it('after a restart, private answers go to the account, never to who took the nick first',
    async () => {
      const al2 = await client('al2', ALICE);
      const anon = await client('anon');
      const asked = seen.length;
      // al2's answer is made while the bot is away; anon's once it is back.
      al2.say(BOT, '!slow');
      anon.say(BOT, '!held');
      await waitUntil(() => seen.length === asked + 2);

      gate.open = false;
      await server.killIrcd();
      clients.length = 0;
      await waitUntil(() => !bot.online);
      await server.startIrcd();

      // Strangers with no account take both nicks before the bot is back.
      const impostors = [await client('al2'), await client('anon')];
      gate.open = true;
      await impostors[0].waitFor((l) => l.command === 'JOIN' && l.nick === BOT, {
        timeoutMs: 15_000,
      });
      releaseHeld();
      // Output goes out in order: a reply meant for the old holders would come before these.
      for (const impostor of impostors) {
        const mark = impostor.lines.length;
        impostor.say(BOT, '!echo sentinel');
        await impostor.waitFor((l) => fromBot(impostor.nick)(l) && l.params[1] === 'sentinel',
          { from: mark });
        const texts = impostor.messagesFrom(BOT).map((l) => l.params[1]);
        assert.deepEqual(texts, ['sentinel'], `${impostor.nick} got another's private reply`);
      }

      // Alice, back under another nick, gets her answer once services vouch for her.
      const al3 = await client('al3', ALICE);
      assert.equal((await al3.waitFor(fromBot('al3'))).params[1], 'slow answer');
      await al3.close();
    });

  it('holds the rest of a paced private reply when the asker logs out halfway', async () => {
    const al5 = await client('al5', ALICE);
    const mark = al5.lines.length;
    al5.say(BOT, '!flood');
    await al5.waitFor((l) => fromBot('al5')(l) && l.params[1] === 'flood line 5', { from: mark });
    await al5.logout();

    // The bot reads the logout before a later line from anyone; once this answer is out,
    // whatever it wrote to al5 before it has reached al5 too.
    const witness = await client('witness');
    witness.say(BOT, '!echo after logout');
    await witness.waitFor((l) => fromBot('witness')(l) && l.params[1] === 'after logout');
    await synced(al5);
    const beforeLogin = al5.messagesFrom(BOT, mark).length;
    assert.ok(beforeLogin < 30, 'lines kept going to a nick no longer logged in as alice');

    await al5.identify(ALICE.account, ALICE.password);
    await al5.waitFor((l) => fromBot('al5')(l) && l.params[1] === 'flood line 30');
    const texts = al5.messagesFrom(BOT, mark).map((l) => l.params[1]);
    assert.deepEqual(texts, Array.from({ length: 30 }, (_, i) => `flood line ${i + 1}`));
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}
