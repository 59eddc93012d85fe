/** The bot's logger keeps secrets out of its file, however deep they sit in a logged object. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { createLogger } from '../src/log.ts';

const dirs: string[] = [];

after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('log redaction', () => {
  test('a nested config object is logged with no secret in it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-log-'));
    dirs.push(dir);
    const file = path.join(dir, 'bot.log');
    const logger = createLogger({ level: 'info', file });

    logger.info(
      {
        config: {
          adapters: {
            irc: { sasl: { account: 'crewvz', password: 'hunter2-irc' } },
            slack: { token: 'xoxb-slack-token', signingSecret: 'slack-signing' },
          },
          pki: { bot: { key: 'PRIVATE-KEY-PEM', passphrase: 'pass-phrase' } },
          deep: { a: { b: { c: { d: { secret: 'six-levels-down' } } } } },
        },
      },
      'config loaded',
    );
    // The file is opened and written asynchronously: wait for the line to land.
    let text = '';
    for (let tries = 0; tries < 100 && !text.includes('config loaded'); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      text = await readFile(file, 'utf8').catch(() => '');
    }
    assert.match(text, /config loaded/);
    assert.match(text, /"account":"crewvz"/);
    for (const secret of [
      'hunter2-irc',
      'xoxb-slack-token',
      'slack-signing',
      'PRIVATE-KEY-PEM',
      'pass-phrase',
      'six-levels-down',
    ]) {
      assert.doesNotMatch(text, new RegExp(secret), secret);
    }
  });
});
