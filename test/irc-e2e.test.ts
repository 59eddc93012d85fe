/**
 * The whole story on a real IRC network: InspIRCd + Atheme, the bot with its IRC adapter, a
 * real agent child process (sim driver) over mutual TLS. A student asks for a VE in #openvz,
 * a crew member approves it, the channel hears that it is active, and the beancounter table
 * goes to the student by private message.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseIrcConfig } from '../adapters/irc-config.ts';
import { startAgentChild, startBotRig, type AgentChild, type BotRig } from './helpers/bot-rig.ts';
import {
  IrcTestClient,
  registerAccount,
  startIrcServer,
  type IrcServer,
  type ReceivedLine,
} from './helpers/ircd.ts';

const BOT = 'crewvz';
const CHANNEL = '#openvz';
const STUDENT = { account: 'stud', password: 'student-pass-1' };
const CREW = { account: 'crew1', password: 'crew-pass-1' };
const STUDENT2 = { account: 'stud2', password: 'student-pass-2' };
/** What the core says to anyone the network does not vouch for. */
const IDENTIFY = /needs to know who you are.*identify with its services.*NickServ IDENTIFY/;

const fromBot = (target: string, pattern: RegExp) => (l: ReceivedLine): boolean =>
  l.command === 'PRIVMSG' && l.nick === BOT && l.params[0] === target && pattern.test(l.params[1]);

describe('crewvz on IRC, end to end', () => {
  let server: IrcServer;
  let agent: AgentChild;
  let rig: BotRig;
  const clients: IrcTestClient[] = [];

  before(async () => {
    server = await startIrcServer();
    await Promise.all([
      registerAccount(server, STUDENT.account, STUDENT.password),
      registerAccount(server, CREW.account, CREW.password),
      registerAccount(server, STUDENT2.account, STUDENT2.password),
    ]);
    agent = await startAgentChild();
    const irc = parseIrcConfig({
      host: server.host,
      port: server.port,
      nick: BOT,
      channels: [CHANNEL],
      rate: { burst: 10, linesPerSecond: 20 },
    }, 'adapters.irc');
    rig = await startBotRig({ port: agent.port, config: { adapters: { shell: null, irc } } });
  });

  async function join(
    nick: string,
    login?: { account: string; password: string },
  ): Promise<IrcTestClient> {
    const client = await IrcTestClient.connect(server, { nick, ...(login ? { login } : {}) });
    clients.push(client);
    await client.join(CHANNEL);
    return client;
  }

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await rig?.stop();
    await agent?.cleanup();
    if (rig) await rm(rig.dir, { recursive: true, force: true });
    await server?.stop();
  });

  it('request in the channel, crew approval, VE active announced, ubc table in private',
    async () => {
      const [student, crew] = await Promise.all([
        IrcTestClient.connect(server, { nick: 'student', login: STUDENT }),
        IrcTestClient.connect(server, { nick: 'boss', login: CREW }),
      ]);
      clients.push(student, crew);
      await Promise.all([student.join(CHANNEL), crew.join(CHANNEL)]);
      // The bot is in the channel: it joined after us, or NAMES listed it when we joined.
      const botIn = (l: ReceivedLine): boolean => (l.command === 'JOIN' && l.nick === BOT) ||
        (l.command === '353' && l.params[3].split(' ').some((n) => /^[@+]?crewvz(!|$)/.test(n)));
      await student.waitFor(botIn, { from: 0, timeoutMs: 15_000 });

      student.say(CHANNEL, '!ve create');
      const filed = await crew.waitFor(fromBot(CHANNEL, /request #\d+ filed/));
      const id = Number(/request #(\d+) filed/.exec(filed.params[1])?.[1]);

      crew.say(CHANNEL, `!approve ${id}`);
      const active = await student.waitFor(fromBot(CHANNEL, /VE (\d+) is active on node1/),
        { timeoutMs: 15_000 });
      const ve = Number(/VE (\d+) is active/.exec(active.params[1])?.[1]);
      assert.ok(ve > 0, 'the channel was told which VE is active');

      const mark = crew.lines.length;
      student.say(CHANNEL, `!ve ubc ${ve}`);
      await student.waitFor(fromBot('student', /kmemsize/), { timeoutMs: 15_000 });
      const table = student.lines.filter((l) => l.command === 'PRIVMSG' && l.nick === BOT &&
        l.params[0] === 'student');
      assert.ok(table.some((l) => /resource\s+held\s+maxheld\s+barrier\s+limit/.test(l.params[1])));
      for (const line of table) assert.ok(line.bytes <= 512);

      // One short line in the channel, not the table.
      await crew.waitFor(fromBot(CHANNEL, /^student: /));
      // Sentinel: output goes out in order, so anything more for the channel came before this.
      crew.say(CHANNEL, '!whoami');
      await crew.waitFor(fromBot(CHANNEL, /you are irc:crew1/));
      const inChannel = crew.messagesFrom(BOT, mark).filter((l) => l.params[0] === CHANNEL)
        .map((l) => l.params[1]);
      assert.equal(inChannel.filter((t) => t.startsWith('student: ')).length, 1);
      assert.ok(!inChannel.some((t) => /kmemsize|resource\s+held/.test(t)), inChannel.join('\n'));
    });

  // The roles on the wire: nothing but the services account decides who may approve.
  let owner: IrcTestClient;
  let pendingId = 0;

  it('refuses a client with no account under the crew nick, telling it to identify', async () => {
    owner = await join('stud2', STUDENT2);
    const impostor = await join(CREW.account);
    owner.say(CHANNEL, '!ve create');
    const filed = await impostor.waitFor(fromBot(CHANNEL, /request #\d+ filed/));
    pendingId = Number(/request #(\d+) filed/.exec(filed.params[1])?.[1]);
    // The crew hears of it in the same channel; after that, the bot speaks only when asked.
    await impostor.waitFor(fromBot(CHANNEL, new RegExp(`^new request #${pendingId} `)),
      { from: 0 });
    impostor.cursor = impostor.lines.length;

    impostor.say(CHANNEL, `!approve ${pendingId}`);
    assert.match((await impostor.waitFor(fromBot(CHANNEL, /./))).params[1], IDENTIFY);
    impostor.say(CHANNEL, '!ve list');
    const refusal = (await impostor.waitFor(fromBot(CHANNEL, /./))).params[1];
    assert.match(refusal, /^the command !ve list /);
    assert.match(refusal, IDENTIFY);
  });

  it('refuses !approve from a student', async () => {
    const pupil = await join('pupil', STUDENT);
    pupil.say(CHANNEL, `!approve ${pendingId}`);
    assert.match((await pupil.waitFor(fromBot(CHANNEL, /./))).params[1],
      /^the command !approve needs the crew role and you are student/);
  });

  it('lets the crew member approve under another nick, and refuses the next !approve ' +
    'at once after ACCOUNT *', async () => {
    const chief = await join('chief', CREW);
    chief.say(CHANNEL, `!approve ${pendingId}`);
    assert.match((await chief.waitFor(fromBot(CHANNEL, /./))).params[1],
      new RegExp(`^request #${pendingId} approved`));
    await chief.waitFor(fromBot(CHANNEL, /VE \d+ is active/), { timeoutMs: 15_000 });

    // Still signed in, a second approve would be told the request is no longer pending.
    await chief.logout();
    chief.say(CHANNEL, `!approve ${pendingId}`);
    assert.match((await chief.waitFor(fromBot(CHANNEL, /./))).params[1], IDENTIFY);
  });

  it('answers a private command typed without !, and ignores a bare word in the channel',
    async () => {
      owner.say(BOT, 'whoami');
      assert.match((await owner.waitFor(fromBot('stud2', /you are/))).params[1],
        /^you are irc:stud2, role student/);

      // The server relays in order: by the answer to !whoami, the bare word has reached the bot.
      const mark = owner.lines.length;
      owner.say(CHANNEL, 'whoami');
      owner.say(CHANNEL, '!whoami');
      await owner.waitFor(fromBot(CHANNEL, /you are irc:stud2/), { from: mark });
      const answers = owner.messagesFrom(BOT, mark).filter((l) => /you are/.test(l.params[1]));
      assert.equal(answers.length, 1, answers.map((l) => l.params[1]).join('\n'));
    });

  it('takes command words in any case', async () => {
    owner.say(BOT, '!VE LIST');
    const answer = await owner.waitFor(fromBot('stud2', /^VE\s+node\s|unknown command/));
    assert.match(answer.params[1], /^VE\s+node\s+owner/);
    assert.match((await owner.waitFor(fromBot('stud2', /./))).params[1],
      /^VE \d+\s+node1\s+irc:stud2\s/);
  });
});
