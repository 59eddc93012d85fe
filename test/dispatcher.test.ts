/**
 * The dispatcher on a real bot (real SQLite file, a configured node that is down): tokenizing,
 * lookup, suggestions, usage lines, the role filter, exactly-once events and the two error paths.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';

import type { InboundMessage } from '../adapters/types.ts';
import { define } from '../commands/types.ts';
import { Dispatcher } from '../src/dispatcher.ts';
import { UserFacingError } from '../src/errors.ts';
import { silentLogger } from '../src/log.ts';
import { tokenize } from '../src/tokenize.ts';
import { freePort, startBotRig, type BotRig } from './helpers/bot-rig.ts';

let rig: BotRig;

before(async () => {
  rig = await startBotRig({ port: await freePort() });
});

after(async () => {
  await rig.stop();
  await rm(rig.dir, { recursive: true, force: true });
});

/** A debug logger whose entries the test reads. */
function capture(): { entries: { msg: string; err?: { message: string } }[]; logger: pino.Logger } {
  const entries: { msg: string; err?: { message: string } }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      entries.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { entries, logger: pino({ level: 'debug' }, stream) };
}

function message(text: string, extra: Partial<InboundMessage> = {}): InboundMessage {
  return {
    adapter: 'slack',
    sender: { identity: 'slack:U1', display: 'u1' },
    conversation: { kind: 'channel', room: 'C1' },
    text,
    ...extra,
  };
}

describe('tokenize', () => {
  test('splits on spaces and keeps quoted words together', () => {
    const words = tokenize(`deny 3 "not now" "it's" fine\\ too`);
    assert.deepEqual(words, ['deny', '3', 'not now', "it's", 'fine too']);
    assert.deepEqual(tokenize(`a 'b \\ c' ""`), ['a', 'b \\ c', '']);
  });

  test('reads only the first line', () => {
    assert.deepEqual(tokenize('ve list\n!grant x crew'), ['ve', 'list']);
  });

  test('an unclosed quote is a user error', () => {
    assert.throws(() => tokenize('deny 3 "oops'), UserFacingError);
  });
});

describe('dispatcher', () => {
  test('command words are case-insensitive and subcommands are found', async () => {
    assert.match((await rig.say('shell:admin', '!WhoAmI'))[0] ?? '', /shell:admin, role admin/);
    assert.match((await rig.say('shell:kim', '!Ve List'))[0] ?? '', /no VEs yet/);
  });

  test('an unknown command suggests the closest ones', async () => {
    assert.match((await rig.say('shell:kim', '!aprove 3'))[0] ?? '', /did you mean !approve/);
    assert.match((await rig.say('shell:kim', '!ve craete'))[0] ?? '', /did you mean !ve create/);
    assert.match((await rig.say('shell:kim', '!xyzzy'))[0] ?? '', /!help lists the commands/);
  });

  test('no refusal or hint starts with the command prefix, so no bot takes it for a command',
    async () => {
      const replies = [
        ...(await rig.say('shell:kim', '!ve frobnicate')),
        ...(await rig.say('shell:kim', '!approve 1')),
        ...(await rig.say('shell:kim', '!xyzzy')),
      ];
      assert.equal(replies.length, 3);
      for (const line of replies) {
        assert.doesNotMatch(line, /^!/);
      }
    });

  test('a handler\'s line that starts with the prefix is guarded before it reaches chat',
    async () => {
      const echoing = define({
        name: 'echoing',
        usage: 'echoing',
        summary: 'answers with command-like lines',
        role: 'anyone',
        args: [],
        mutating: false,
        handler: async ({ respond }) => {
          await respond({ lines: ['!approve 1', '  !help', 'plain'] });
        },
      });
      const dispatcher = new Dispatcher({
        commands: [echoing],
        services: rig.bot.services,
        logger: silentLogger(),
      });
      const replies: string[] = [];
      await dispatcher.handle(message('!echoing'), async (reply) => {
        replies.push(...reply.lines);
      });

      assert.deepEqual(replies, ['»!approve 1', '»!help', 'plain']);
    });

  test('!revoke and !grant refuse what is not an identity, echoed safely', async () => {
    const revoked = await rig.say('shell:admin', '!revoke !help');
    assert.match(revoked[0] ?? '', /^'!help' is not an identity/);

    const control = await rig.say('shell:admin', '!grant shell:a\u0007b crew');
    assert.deepEqual(control, [
      'the command holds an unprintable character (U+0007); type it again without it',
    ]);
    const revokeControl = await rig.say('shell:admin', '!revoke shell:a\u001bb');
    assert.match(revokeControl[0] ?? '', /unprintable character \(U\+001B\)/);
    assert.equal(rig.bot.services.store.grants.get('shell:a?b'), null);
  });

  test('refuses control and direction characters anywhere, a lone CR included', async () => {
    // A CR inside a reason would become a second IRC line, one starting with the prefix.
    const cr = await rig.say('irc:crew1', '!deny 1 "x\r!grant irc:evil crew"');
    assert.match(cr[0] ?? '', /^the command holds an unprintable character|unclosed/);
    const bidi = await rig.say('shell:kim', '!\u202ewhoami');
    assert.deepEqual(bidi, [
      'the command holds an unprintable character (U+202E); type it again without it',
    ]);
    const tab = await rig.say('shell:kim', '!whoami\t');
    assert.match(tab[0] ?? '', /^you are shell:kim/);
  });

  test('bad arguments get the usage line', async () => {
    assert.deepEqual(await rig.say('irc:crew1', '!approve'), ['usage: !approve N']);
    assert.match((await rig.say('irc:crew1', '!approve seven'))[0] ?? '', /usage: !approve N/);
    assert.deepEqual(await rig.say('shell:kim', '!ve status 101 2'), ['usage: !ve status ID']);
  });

  test('numbers out of range say the range', async () => {
    assert.deepEqual(await rig.say('irc:crew1', '!audit 0'), [
      'n must be a whole number from 1 to 100; usage: !audit [n]',
    ]);
    assert.match(
      (await rig.say('shell:kim', '!ve ubc 99999999999999999999'))[0] ?? '',
      /^ID must be a whole number from 101 to 2147483644; usage: !ve ubc ID$/,
    );
  });

  test('one length cap for every adapter; unknown commands echoed short', async () => {
    const long = await rig.say('irc:crew1', `!deny 14 ${'x'.repeat(100_000)}`);
    assert.deepEqual(long, ['command too long (100009 characters; at most 500)']);
    // The cap is the whole line as typed, the ! included: 500 pass, 501 do not.
    const at = (length: number) => `!deny 14 ${'r'.repeat(length - '!deny 14 '.length)}`;
    assert.doesNotMatch((await rig.say('irc:crew1', at(500)))[0] ?? '', /too long/);
    assert.deepEqual(await rig.say('irc:crew1', at(501)),
      ['command too long (501 characters; at most 500)']);
    const unknown = await rig.say('shell:kim', `!${'y'.repeat(100_000)}`);
    assert.match(unknown[0] ?? '', /^command too long/);
    const word = (await rig.say('shell:kim', `!${'z'.repeat(300)} now`))[0] ?? '';
    assert.ok(word.length < 100, word);
    assert.match(word, /^unknown command 'z{30}…'; !help lists the commands$/);
  });

  test('suggestions quote the command word only, never its arguments', async () => {
    assert.deepEqual(await rig.say('shell:kim', '!aprove 2'), [
      "unknown command 'aprove'; did you mean !approve?",
    ]);
    assert.deepEqual(await rig.say('shell:kim', '!ve craete debian'), [
      "unknown command 've craete'; did you mean !ve create?",
    ]);
  });

  test('!help of a command group lists its subcommands, as does the group alone', async () => {
    const student = (await rig.say('shell:kim', '!help ve')).join('\n');
    assert.equal((await rig.say('shell:kim', '!ve')).join('\n'), student);
    assert.equal((await rig.say('shell:kim', '!VE')).join('\n'), student);
    assert.match(student, /^the !ve group has these subcommands:/);
    assert.match(student, /!ve create \[template\]\s+ask for a VE/);
    assert.match(student, /!ve remove ID \[confirm\]/);
    assert.match(student, /and 1 more for the crew/);
    // The mark the `!ve ubc` table really puts at the start of a row in trouble.
    assert.match(student, /!ve ubc ID\s+.*; \* marks a row in trouble/);
    assert.match((await rig.say('irc:crew1', '!help ve')).join('\n'), /!ve set ID RESOURCE/);
    assert.match((await rig.say('shell:kim', '!help nothing'))[0] ?? '', /no command 'nothing'/);
  });

  test('!grant names identities in general, for whatever network', async () => {
    const reply = (await rig.say('shell:admin', '!grant bob crew'))[0] ?? '';
    assert.match(reply, /adapter:id/);
    assert.match(reply, /shell:login/);
  });

  test('help is built from the declarations and filtered by role', async () => {
    const student = (await rig.say('shell:kim', '!help')).join('\n');
    assert.match(student, /!ve create \[template\]\s+ask for a VE/);
    assert.doesNotMatch(student, /!grant/);
    const admin = (await rig.say('shell:admin', '!help')).join('\n');
    assert.match(admin, /!grant IDENTITY ROLE/);
    assert.match((await rig.say('shell:kim', '!help ve remove')).join('\n'), /asks you to confirm/);
  });

  test('!cancel: a student withdraws their own request, the crew anyone\'s, as help says',
    async () => {
      assert.match((await rig.say('shell:vic', '!ve create')).join('\n'), /request #\d+ filed/);
      const [request] = rig.bot.services.store.requests.inStates(['pending'], 'shell:vic');
      assert.ok(request);
      assert.match(
        (await rig.say('shell:wes', `!cancel ${request.id}`))[0] ?? '',
        new RegExp(`request #${request.id} is not yours to cancel`),
      );
      assert.deepEqual(await rig.say('irc:crew1', `!cancel ${request.id}`), [
        `request #${request.id} cancelled`,
      ]);
      assert.match(
        (await rig.say('shell:vic', '!help cancel')).join('\n'),
        /withdraw your pending request N \(the crew may withdraw anyone's\)/,
      );
    });

  test('unidentified people may use only !help and !whoami', async () => {
    assert.match((await rig.say(null, '!help')).join('\n'), /identify with your network/);
    assert.match((await rig.say(null, '!requests'))[0] ?? '', /identify with its services, then/);
  });

  test('how to identify is in the adapter\'s words; the core names no network', async () => {
    const nobody = { identity: null, display: 'guest' };
    const said = async (identifyHint?: string): Promise<string> => {
      const lines: string[] = [];
      const hint = identifyHint === undefined ? {} : { identifyHint };
      for (const text of ['!requests', '!help', '!whoami']) {
        await rig.bot.dispatcher.handle(message(text, { sender: nobody, ...hint }), async (r) => {
          lines.push(...r.lines);
        });
      }
      return lines.join('\n');
    };

    const plain = await said();
    assert.doesNotMatch(plain, /NickServ|IRC/);
    const hinted = await said('/msg Q AUTH account password');
    assert.equal(hinted.match(/\(\/msg Q AUTH account password\)/g)?.length, 3, hinted);
  });

  test('in a channel only !text is a command; in private the ! is optional', async () => {
    assert.deepEqual(await rig.say('shell:kim', 'whoami', 'channel'), []);
    assert.match((await rig.say('shell:kim', 'whoami'))[0] ?? '', /shell:kim, role student/);
  });

  test('an unclosed quote is answered, not ignored', async () => {
    assert.match((await rig.say('irc:crew1', '!deny 1 "oops'))[0] ?? '', /unclosed " quote/);
  });

  test('an event delivered twice is handled once', async () => {
    const replies: string[] = [];
    const respond = async (reply: { lines: string[] }): Promise<void> => {
      replies.push(...reply.lines);
    };
    const event = message('!whoami', { eventId: 'Ev42' });
    await rig.bot.dispatcher.handle(event, respond);
    await rig.bot.dispatcher.handle(event, respond);
    assert.equal(replies.length, 1);
  });

  test('a node that is down gives a plain answer', async () => {
    assert.match((await rig.say('irc:crew1', '!templates'))[0] ?? '', /no node answers/);
  });

  test('user errors go back verbatim; bugs get a generic reply with a reference', async () => {
    const commands = [
      define({
        name: 'refuse',
        usage: 'refuse',
        summary: 'always refuses',
        role: 'student',
        args: [],
        mutating: false,
        handler: async () => {
          throw new UserFacingError('no, and here is why');
        },
      }),
      define({
        name: 'crash',
        usage: 'crash',
        summary: 'always breaks',
        role: 'student',
        args: [],
        mutating: false,
        handler: async () => {
          throw new Error('secret internal detail /etc/passwd');
        },
      }),
    ];
    const dispatcher = new Dispatcher({
      commands,
      services: rig.bot.services,
      logger: silentLogger(),
    });
    const replies: string[] = [];
    const respond = async (reply: { lines: string[] }): Promise<void> => {
      replies.push(...reply.lines);
    };
    await dispatcher.handle(message('!refuse'), respond);
    await dispatcher.handle(message('!crash'), respond);

    assert.equal(replies[0], 'no, and here is why');
    assert.match(replies[1] ?? '', /^something went wrong running !crash \(reference \w+\)$/);
    assert.doesNotMatch(replies[1] ?? '', /secret/);
    const audit = rig.bot.services.store.audit.recent(2).map((entry) => entry.outcome);
    assert.deepEqual(audit, ['error', 'refused']);
  });

  test('unknown, too long and unreadable commands are audited, their text cut short', async () => {
    const { store } = rig.bot.services;
    const latest = () => store.audit.recent(1)[0];

    await rig.say('shell:kim', '!frobnicate now');
    assert.deepEqual(
      { ...latest(), id: 0, at: '' },
      {
        id: 0,
        at: '',
        actor: 'shell:kim',
        action: 'unknown command',
        target: 'frobnicate now',
        outcome: 'refused',
        detail: "unknown command 'frobnicate'; !help lists the commands",
      },
    );

    await rig.say('irc:crew1', `!deny 14 \u001b[31m${'x'.repeat(600)}`);
    const long = latest();
    assert.equal(long?.action, 'command unreadable');
    assert.equal(long?.actor, 'irc:crew1');
    assert.equal(long?.outcome, 'refused');
    assert.equal(long?.target, `deny 14 ?[31m${'x'.repeat(17)}…`, 'control characters escaped');
    assert.match(long?.detail ?? '', /^command too long \(6\d\d characters; at most 500\)$/);

    await rig.say(null, '!deny 1 "oops');
    const unclosed = latest();
    assert.equal(unclosed?.actor, 'unidentified:nobody');
    assert.equal(unclosed?.target, 'deny 1 "oops');
    assert.match(unclosed?.detail ?? '', /unclosed " quote/);
  });

  test('a refused role check is audited with its target', async () => {
    await rig.say('shell:kim', '!approve 7');
    const [entry] = rig.bot.services.store.audit.recent(1);
    assert.equal(entry?.action, 'command approve');
    assert.equal(entry?.outcome, 'refused');
    assert.equal(entry?.target, '7');
    assert.match(entry?.detail ?? '', /needs the crew role/);
  });

  /** Runs `text` through a dispatcher whose every audit write fails, as on a full disk. */
  async function withFailingAudit(text: string) {
    const { store } = rig.bot.services;
    const log = capture();
    const dispatcher = new Dispatcher({
      commands: rig.bot.services.registry,
      services: rig.bot.services,
      logger: log.logger,
    });
    const replies: string[] = [];
    store.db.exec(`CREATE TRIGGER audit_fails BEFORE INSERT ON audit
      BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    try {
      await dispatcher.handle(message(text), async (reply) => {
        replies.push(...reply.lines);
      });
    } finally {
      store.db.exec('DROP TRIGGER audit_fails');
    }
    return { replies, failed: log.entries.find((entry) => entry.msg === 'audit write failed') };
  }

  test('an unknown command with a failed audit write is answered; the failure is logged',
    async () => {
      const { replies, failed } = await withFailingAudit('!frobnicate');
      assert.match(replies[0] ?? '', /^unknown command 'frobnicate'/);
      assert.match(failed?.err?.message ?? '', /disk full/);
    });

  test('a failed audit write is logged; handle still answers and never throws', async () => {
    const { replies, failed } = await withFailingAudit('!whoami');
    assert.match(replies[0] ?? '', /^you are slack:U1/);
    assert.match(failed?.err?.message ?? '', /disk full/);
  });

  test('an adapter whose respond throws does not make handle throw; it is logged', async () => {
    const log = capture();
    const dispatcher = new Dispatcher({
      commands: rig.bot.services.registry,
      services: rig.bot.services,
      logger: log.logger,
    });

    await dispatcher.handle(message('!whoami'), async () => {
      throw new Error('socket closed');
    });

    assert.ok(log.entries.some((entry) => entry.err?.message === 'socket closed'));
  });
});
