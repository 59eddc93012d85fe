import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/errors.ts';
import { parseAlertsConfig } from '../src/watcher/config.ts';

describe('parseAlertsConfig', () => {
  it('fills in the defaults for a missing section', () => {
    assert.deepEqual(parseAlertsConfig(undefined), {
      settings: {
        enabled: true, intervalSeconds: 60, cooldownSeconds: 900, unreachableAfter: 3,
        concurrency: 4,
      },
      warnings: [],
    });
  });

  it('takes every key and warns about unknown ones', () => {
    const parsed = parseAlertsConfig({
      enabled: false, intervalSeconds: 30, cooldownMinutes: 5, unreachableAfter: 2,
      concurrency: 8, interval: 10,
    });
    assert.deepEqual(parsed.settings, {
      enabled: false, intervalSeconds: 30, cooldownSeconds: 300, unreachableAfter: 2,
      concurrency: 8,
    });
    assert.equal(parsed.warnings.length, 1);
    assert.match(parsed.warnings[0] ?? '', /^unknown config key alerts\.interval /);
  });

  it('names the key and the allowed range of a bad value', () => {
    assert.throws(() => parseAlertsConfig({ intervalSeconds: 1 }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, 'alerts.intervalSeconds must be a whole number from 10 to 3600' +
        ' (default 60)');
      return true;
    });
    assert.throws(() => parseAlertsConfig({ cooldownMinutes: '15' }), /alerts\.cooldownMinutes/);
    assert.throws(() => parseAlertsConfig({ enabled: 'yes' }), /alerts\.enabled must be true/);
  });
});
