/**
 * The `alerts` section of the bot's config, which src/config.ts keeps as written for the
 * watcher to check. Every key is optional; a bad value stops the bot with the key's path.
 *
 *   alerts:
 *     enabled: true           # false: no polling at all
 *     intervalSeconds: 60     # how often every node's beancounters are read
 *     cooldownMinutes: 15     # per VE and resource; growth meanwhile is summed into the next alert
 *     unreachableAfter: 3     # failed polls in a row before "node unreachable"
 *     concurrency: 4          # nodes polled at once
 */
import { ConfigError } from '../errors.ts';
import { DEFAULT_COOLDOWN_MS } from './cooldown.ts';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_INTERVAL_SECONDS,
  DEFAULT_UNREACHABLE_AFTER,
} from './watcher.ts';

export interface AlertsSettings {
  enabled: boolean;
  intervalSeconds: number;
  cooldownSeconds: number;
  unreachableAfter: number;
  concurrency: number;
}

const KEYS = ['enabled', 'intervalSeconds', 'cooldownMinutes', 'unreachableAfter', 'concurrency'];

export interface ParsedAlerts {
  settings: AlertsSettings;
  /** Unknown keys, for the config loader to print with its own warnings. */
  warnings: string[];
}

export function parseAlertsConfig(raw: Record<string, unknown> | undefined): ParsedAlerts {
  const section = raw ?? {};
  const warnings = Object.keys(section)
    .filter((key) => !KEYS.includes(key))
    .map((key) => `unknown config key alerts.${key} (known: ${KEYS.join(', ')})`);

  const enabled = section.enabled ?? true;
  if (typeof enabled !== 'boolean') {
    throw new ConfigError('alerts.enabled must be true or false');
  }
  const cooldownMinutes = integer(section, 'cooldownMinutes', 0, 24 * 60,
    DEFAULT_COOLDOWN_MS / 60_000);
  return {
    settings: {
      enabled,
      intervalSeconds: integer(section, 'intervalSeconds', 10, 3600, DEFAULT_INTERVAL_SECONDS),
      cooldownSeconds: cooldownMinutes * 60,
      unreachableAfter: integer(section, 'unreachableAfter', 1, 100, DEFAULT_UNREACHABLE_AFTER),
      concurrency: integer(section, 'concurrency', 1, 64, DEFAULT_CONCURRENCY),
    },
    warnings,
  };
}

function integer(
  section: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const value = section[key];
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `alerts.${key} must be a whole number from ${min} to ${max} (default ${fallback})`,
    );
  }
  return value;
}
