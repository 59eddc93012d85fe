/**
 * Private lines follow the account they are for, checked just before each is written: the
 * output queue, delivery and recipient check together, with the tracker fed by hand and a
 * lookup the test answers. The real-server cases are in irc-adapter.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountTracker, foldCase } from '../adapters/irc-accounts.ts';
import { Delivery } from '../adapters/irc-delivery.ts';
import { OutputQueue } from '../adapters/irc-output.ts';
import { RecipientCheck } from '../adapters/irc-recipients.ts';
import { TokenBucket } from '../adapters/token-bucket.ts';
import { silentLogger } from '../src/log.ts';

const PRIVATE = { kind: 'private', room: 'al' } as const;

function rig() {
  const fold = (text: string): string => foldCase(text, 'rfc1459');
  const tracker = new AccountTracker(() => 'rfc1459');
  const written: string[] = [];
  const asked: string[] = [];
  const answers = new Map<string, (account: string | null) => void>();
  let connected = true;
  /** Lines queued but not yet sent, as at a slow rate. */
  let paused = false;
  const recipients = new RecipientCheck({
    tracker,
    capEnabled: (name) => name === 'account-notify',
    lookup: (nick) => {
      asked.push(nick);
      return new Promise((resolve) => answers.set(nick, resolve));
    },
    fold,
    changed: () => queue.drain(),
  });
  const queue: OutputQueue = new OutputQueue(new TokenBucket(1000, 1000), {
    ready: () => connected && !paused,
    write: (line) => written.push(line),
    prefixBytes: () => 30,
    clearance: (target, owner) => recipients.clearance(target, owner),
    divert: (owner, target, texts) => delivery.divert(owner, target, texts),
  }, silentLogger());
  const delivery = new Delivery({
    queue, tracker, alertChannel: '#c', fold, registered: () => connected,
    trackerCurrent: () => true, logger: silentLogger(),
  });
  const setConnected = (value: boolean): void => {
    connected = value;
    if (!value) {
      recipients.reset();
      tracker.clear();
      queue.dropConnectionBound();
    }
    queue.drain();
  };
  const pause = (value: boolean): void => {
    paused = value;
    queue.drain();
  };
  return { tracker, written, asked, answers, delivery, recipients, setConnected, pause };
}

test('a line for alice skips a stranger who took her old nick, and follows her', () => {
  const { tracker, written, delivery, recipients } = rig();
  tracker.joined('al', '#c', 'alice');
  delivery.respond(PRIVATE, { nick: 'al', account: 'alice', gone: false }, { lines: ['one'] });
  assert.deepEqual(written, ['PRIVMSG al :one']);

  // Alice becomes al_, a stranger with no account takes al.
  tracker.renamed('al', 'al_');
  recipients.forget('al');
  tracker.joined('al', '#c', null);
  delivery.respond(PRIVATE, { nick: 'al', account: 'alice', gone: false }, { lines: ['two'] });
  assert.deepEqual(written, ['PRIVMSG al :one', 'PRIVMSG al_ :two']);
});

test('an unknown holder is looked up first; a no-account nick is bound to its connection',
  async () => {
    const { written, asked, answers, delivery, setConnected, tracker, pause } = rig();
    delivery.respond(PRIVATE, { nick: 'al', account: 'alice', gone: false }, { lines: ['a1'] });
    delivery.respond({ kind: 'private', room: 'anon' },
      { nick: 'anon', account: null, gone: false }, { lines: ['n1'] });
    assert.deepEqual(asked, ['al']);
    assert.deepEqual(written, ['PRIVMSG anon :n1'], 'alice\'s line waits for the lookup');

    answers.get('al')?.(null);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(written, ['PRIVMSG anon :n1'], 'al is not alice: the line is held');

    // n2 is still queued when the connection drops; n3 is answered after the drop.
    pause(true);
    delivery.respond({ kind: 'private', room: 'anon' },
      { nick: 'anon', account: null, gone: false }, { lines: ['n2'] });
    setConnected(false);
    delivery.respond({ kind: 'private', room: 'anon' },
      { nick: 'anon', account: null, gone: true }, { lines: ['n3'] });
    setConnected(true);
    pause(false);
    assert.deepEqual(written, ['PRIVMSG anon :n1'], 'no-account lines end with the connection');

    // Alice is seen again (extended-join, ACCOUNT, a lookup): what waited goes to her.
    tracker.joined('alice2', '#c', 'alice');
    delivery.accountSeen('alice2', 'alice');
    assert.deepEqual(written, ['PRIVMSG anon :n1', 'PRIVMSG alice2 :a1']);
  });
