import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { backoffMs } from '../src/backoff.ts';
import { AccountTracker, foldCase } from '../adapters/irc-accounts.ts';
import { DEFAULT_IRC_RATE, parseIrcConfig } from '../adapters/irc-config.ts';
import { KeyedLimiter, TokenBucket } from '../adapters/token-bucket.ts';
import { ConfigError } from '../src/errors.ts';

const minimal = { host: 'irc.example.org', nick: 'crewvz', channels: ['#openvz'] };

describe('parseIrcConfig', () => {
  it('fills in defaults', () => {
    const config = parseIrcConfig(minimal, 'adapters.irc');
    assert.equal(config.port, 6667);
    assert.equal(config.tls, false);
    assert.deepEqual(config.rate, DEFAULT_IRC_RATE);
    assert.equal(parseIrcConfig({ ...minimal, tls: true }, 'adapters.irc').port, 6697);
  });

  it('names the key path of a bad value', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...minimal, port: 70000 }, /^adapters\.irc\.port must be a number from 1 to 65535$/],
      [{ ...minimal, channels: [] }, /^adapters\.irc\.channels must be a non-empty list/],
      [{ ...minimal, channels: ['openvz'] }, /^adapters\.irc\.channels\[0\] must be a channel/],
      [{ ...minimal, nick: '1bot' }, /^adapters\.irc\.nick must be an IRC nickname/],
      [{ ...minimal, rate: { burst: 0 } }, /^adapters\.irc\.rate\.burst must be a number/],
      [{ ...minimal, sasl: { account: 'bot' } }, /^adapters\.irc\.sasl\.password is required/],
      [{ ...minimal, colour: 'red' }, /^adapters\.irc\.colour is not a known key/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => parseIrcConfig(value, 'adapters.irc'), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('says to quote a channel that YAML read as a comment', () => {
    const base = 'host: irc.example.org\nnick: crewvz\n';
    const cases: [string, RegExp][] = [
      [`${base}channels: ["#lab"]\nalertChannel: #crew\n`,
        new RegExp('^adapters\\.irc\\.alertChannel has no value: YAML reads an unquoted # as ' +
          'the start of a comment, so quote channel names, e\\.g\\. alertChannel: "#crew"$')],
      [`${base}channels: #lab\n`,
        /^adapters\.irc\.channels has no value: .*comment.* channels: \["#lab"\]$/],
      [`${base}channels:\n  - #lab\n`,
        /^adapters\.irc\.channels\[0\] has no value: .*comment.* channels: \["#lab"\]$/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseIrcConfig(parseYaml(text), 'adapters.irc'), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('takes alertChannel as optional (the adapter then uses the first channel)', () => {
    const text = 'host: irc.example.org\nnick: crewvz\nchannels: ["#lab", "#other"]\n';
    const config = parseIrcConfig(parseYaml(text), 'adapters.irc');
    assert.equal(config.alertChannel, undefined);
    const quoted = parseIrcConfig(parseYaml(`${text}alertChannel: "#crew"\n`), 'adapters.irc');
    assert.equal(quoted.alertChannel, '#crew');
  });

  it('reads env: passwords from the environment and says which variable is missing', () => {
    process.env.CREWVZ_TEST_IRC_PASS = 's3cret';
    const sasl = { account: 'crewvz', password: 'env:CREWVZ_TEST_IRC_PASS' };
    const config = parseIrcConfig({ ...minimal, sasl }, 'adapters.irc');
    assert.equal(config.sasl?.password, 's3cret');
    delete process.env.CREWVZ_TEST_IRC_PASS;
    assert.throws(() => parseIrcConfig({ ...minimal, sasl }, 'adapters.irc'),
      /adapters\.irc\.sasl\.password names the environment variable CREWVZ_TEST_IRC_PASS/);
  });
});

describe('casemapping', () => {
  it('folds nicks as the server does', () => {
    assert.equal(foldCase('Alice[]\\~', 'rfc1459'), 'alice{}|^');
    assert.equal(foldCase('Alice[]\\~', 'strict-rfc1459'), 'alice{}|~');
    assert.equal(foldCase('Alice[]\\~', 'ascii'), 'alice[]\\~');
  });

  it('tracks accounts across nick changes and forgets people who leave', () => {
    const tracker = new AccountTracker(() => 'rfc1459');
    tracker.joined('Al[1]', '#openvz', 'alice');
    assert.equal(tracker.nickForAccount('ALICE'), 'Al[1]');
    assert.equal(tracker.accountOf('al{1}'), 'alice');
    tracker.renamed('al{1}', 'alice_');
    assert.equal(tracker.nickForAccount('alice'), 'alice_');
    tracker.setAccount('alice_', null);
    assert.equal(tracker.nickForAccount('alice'), undefined);
    tracker.parted('alice_', '#openvz');
    assert.equal(tracker.accountOf('alice_'), undefined);
  });
});

describe('rate limiting', () => {
  it('refills a token bucket over time', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 0.5, () => now);
    assert.ok(bucket.tryTake());
    assert.ok(bucket.tryTake());
    assert.equal(bucket.tryTake(), false);
    assert.equal(bucket.msUntilToken(), 2000);
    now = 2000;
    assert.ok(bucket.tryTake());
  });

  it('warns a person once, then drops, until a token comes back', () => {
    let now = 0;
    const limiter = new KeyedLimiter(1, 1, () => now);
    assert.deepEqual(['a', 'a', 'a', 'b'].map((k) => limiter.check(k)), ['ok', 'warn', 'drop', 'ok']);
    now = 1000;
    assert.equal(limiter.check('a'), 'ok');
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(backoffMs(0, 1000, 60_000, () => 0), 500);
    assert.equal(backoffMs(3, 1000, 60_000, () => 1), 8000);
    assert.equal(backoffMs(20, 1000, 60_000, () => 1), 60_000);
  });
});
