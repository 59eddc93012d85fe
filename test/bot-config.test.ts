/** The bot's YAML config: defaults, env: values, errors that name the key, warnings. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadConfig, logFileFor, parseConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const MINIMAL = {
  pki: 'pki',
  nodes: [{ name: 'node1', address: '10.0.0.2:7070' }],
  roles: { admins: ['irc:alice'] },
  adapters: { shell: { login: 'alice' } },
};
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crewvz-config-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bot config', () => {
  test('a file with the required keys gets defaults and paths from its folder', async () => {
    const file = path.join(dir, 'bot.yaml');
    await writeFile(
      file,
      'pki: pki\nnodes: [{name: node1, address: "10.0.0.2:7070"}]\n' +
        'roles: {admins: [irc:alice]}\nadapters: {shell: {login: alice}}\n',
    );
    const { config, warnings } = await loadConfig(file, {});
    assert.equal(config.database, path.join(dir, 'crewvz.db'));
    assert.equal(config.pki, path.join(dir, 'pki'));
    assert.deepEqual(config.quotas, { activeVes: 1, pendingRequests: 1 });
    assert.equal(config.requests.expireDays, 7);
    assert.deepEqual(config.adapters.shell, { login: 'alice' });
    assert.equal(config.logFile, null);
    assert.equal(logFileFor(config), path.join(dir, 'crewvz.log'), 'logs beside the database');
    assert.deepEqual(warnings, []);
  });

  test('no adapter at all: refused at load, naming adapters', () => {
    for (const adapters of [undefined, {}, { shell: false }]) {
      assert.throws(
        () => parseConfig({ ...MINIMAL, adapters }, dir, {}),
        (error: unknown) =>
          error instanceof ConfigError && /^adapters names no chat adapter/.test(error.message),
      );
    }
  });

  test('logFile: taken from the config folder; stdout when no terminal adapter', () => {
    const { config } = parseConfig({ ...MINIMAL, logFile: 'logs/bot.log' }, dir, {});
    assert.equal(logFileFor(config), path.join(dir, 'logs', 'bot.log'));
    const irc = { host: 'irc.example.org', nick: 'crewvz', channels: ['#lab'] };
    const ircOnly = parseConfig({ ...MINIMAL, adapters: { irc } }, dir, {}).config;
    assert.equal(logFileFor(ircOnly), null);
  });

  test('a port out of range says the range', () => {
    const nodes = [{ name: 'node1', address: '10.0.0.2:99999' }];
    const parse = (): unknown => parseConfig({ ...MINIMAL, nodes }, dir, {});
    assert.throws(parse, /port must be from 1 to 65535/);
  });

  test('no admin: refuses, and says how to fix it', () => {
    assert.throws(
      () => parseConfig({ ...MINIMAL, roles: { crew: ['irc:bob'] } }, dir, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /roles\.admins is empty/.test(error.message) &&
        /admins: \["irc:/.test(error.message),
    );
  });

  test('errors name the key path', () => {
    assert.throws(
      () => parseConfig({ ...MINIMAL, nodes: [{ name: 'node1', address: 'nowhere' }] }, dir, {}),
      /nodes\[0\]\.address 'nowhere' must be host:port/,
    );
    assert.throws(
      () => parseConfig({ ...MINIMAL, quotas: { activeVes: -1 } }, dir, {}),
      /quotas\.activeVes must be a whole number/,
    );
    assert.throws(
      () => parseConfig({ ...MINIMAL, roles: { admins: ['alice'] } }, dir, {}),
      /roles\.admins\[0\] 'alice' is not an identity/,
    );
  });

  test('env:NAME reads the environment, and a missing variable names both', () => {
    const withEnv = { ...MINIMAL, database: 'env:CREWVZ_DB' };
    const { config } = parseConfig(withEnv, dir, { CREWVZ_DB: '/var/lib/crewvz.db' });
    assert.equal(config.database, '/var/lib/crewvz.db');
    assert.throws(() => parseConfig(withEnv, dir, {}), /database is 'env:CREWVZ_DB'.*CREWVZ_DB/);
  });

  test('unknown keys are warned about, alerts keys by the watcher\'s own list', () => {
    const { warnings } = parseConfig(
      { ...MINIMAL, colour: 'blue', alerts: { channel: '#ops' }, quotas: { active: 2 } },
      dir,
      {},
    );
    assert.equal(warnings.length, 3);
    assert.match(warnings[0] ?? '', /unknown config key colour/);
    assert.match(warnings[1] ?? '', /unknown config key quotas\.active /);
    assert.match(warnings[2] ?? '', /unknown config key alerts\.channel \(known: enabled, /);
  });

  test('alerts: defaults when absent, typed values, a bad value stops the load', () => {
    assert.deepEqual(parseConfig(MINIMAL, dir, {}).config.alerts, {
      enabled: true, intervalSeconds: 60, cooldownSeconds: 900, unreachableAfter: 3,
      concurrency: 4,
    });
    const { config } = parseConfig({ ...MINIMAL, alerts: { cooldownMinutes: 5 } }, dir, {});
    assert.equal(config.alerts.cooldownSeconds, 300);
    assert.throws(
      () => parseConfig({ ...MINIMAL, alerts: { intervalSeconds: 2 } }, dir, {}),
      (error: unknown) =>
        error instanceof ConfigError && /alerts\.intervalSeconds/.test(error.message),
    );
    const notAMapping = { ...MINIMAL, alerts: 'on' };
    assert.throws(() => parseConfig(notAMapping, dir, {}), /alerts must be a mapping/);
  });
});
