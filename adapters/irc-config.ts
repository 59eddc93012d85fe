/**
 * `adapters.irc` in the config file, checked once at load time into a typed object. Every
 * failure names the key path and says what to write instead.
 */
import type { ClientOptions } from 'irc-framework';
import { ConfigError } from '../src/errors.ts';

export interface IrcRate {
  /** Output lines the bot may send at once before the steady rate applies. */
  burst: number;
  /** Steady output rate, lines per second. */
  linesPerSecond: number;
  /** Commands one person may send at once. */
  userBurst: number;
  /** Commands one person may send per minute after the burst. */
  userPerMinute: number;
}

export interface IrcReconnect {
  /** First wait after a drop; doubled on each failed attempt. */
  minMs: number;
  /** The wait never grows past this. */
  maxMs: number;
}

export interface IrcConfig {
  host: string;
  port: number;
  tls: boolean;
  nick: string;
  /** The ident (USER) and real name sent at registration. */
  username: string;
  channels: string[];
  sasl?: { account: string; password: string };
  /** Where `send({kind: 'alerts'})` goes; the first channel when absent. */
  alertChannel?: string;
  rate: IrcRate;
  reconnect: IrcReconnect;
}

/** Defaults that keep the bot under common server flood limits (about 1 line per 2 s). */
export const DEFAULT_IRC_RATE: IrcRate = {
  burst: 4,
  linesPerSecond: 0.5,
  userBurst: 5,
  userPerMinute: 10,
};

export const DEFAULT_IRC_RECONNECT: IrcReconnect = { minMs: 2_000, maxMs: 300_000 };

const KNOWN_KEYS = new Set([
  'host', 'port', 'tls', 'nick', 'username', 'channels', 'sasl', 'alertChannel', 'rate',
  'reconnect',
]);

// RFC 2812 channel prefixes; no spaces, commas or BEL inside.
const CHANNEL_RE = /^[#&+!][^\s,\x07]{1,199}$/;
// Letters, digits and the RFC 2812 "special" characters; not starting with a digit or '-'.
const NICK_RE = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/;

/** irc-framework's options for this config: reconnects are ours, certificates always checked. */
export function clientOptions(config: IrcConfig): ClientOptions {
  return {
    host: config.host,
    port: config.port,
    tls: config.tls,
    rejectUnauthorized: true,
    nick: config.nick,
    username: config.username,
    gecos: 'crewvz bot',
    ...(config.sasl ? { account: { ...config.sasl } } : {}),
    auto_reconnect: false,
    // Services may set a vhost later; CHGHOST tells us, so the 512-byte budget stays true.
    enable_chghost: true,
    version: null,
  };
}

export function parseIrcConfig(value: unknown, keyPath: string): IrcConfig {
  const obj = asObject(value, keyPath);

  for (const key of Object.keys(obj)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new ConfigError(
        `${keyPath}.${key} is not a known key; use one of ${[...KNOWN_KEYS].join(', ')}`,
      );
    }
  }

  const host = requireString(obj.host, `${keyPath}.host`);
  const tls = optionalBoolean(obj.tls, `${keyPath}.tls`) ?? false;
  const port = obj.port === undefined ? (tls ? 6697 : 6667) : parsePort(obj.port, keyPath);
  const nick = requireString(obj.nick, `${keyPath}.nick`);
  if (!NICK_RE.test(nick)) {
    throw new ConfigError(
      `${keyPath}.nick must be an IRC nickname (letters, digits, []\\\`_^{|}-, ` +
        'not starting with a digit or -, at most 30 characters)',
    );
  }
  const username = optionalString(obj.username, `${keyPath}.username`) ?? 'crewvz';

  const channels = parseChannels(obj.channels, `${keyPath}.channels`);
  // Left out, the alert channel is the first channel; `alertChannel:` with no value is not.
  refuseCommentedChannel(obj.alertChannel, `${keyPath}.alertChannel`, '"#crew"');
  const alertChannel = optionalString(obj.alertChannel, `${keyPath}.alertChannel`);
  if (alertChannel !== undefined && !CHANNEL_RE.test(alertChannel)) {
    throw new ConfigError(`${keyPath}.alertChannel must be a channel name such as "#openvz"`);
  }

  const config: IrcConfig = {
    host,
    port,
    tls,
    nick,
    username,
    channels,
    rate: parseRate(obj.rate, `${keyPath}.rate`),
    reconnect: parseReconnect(obj.reconnect, `${keyPath}.reconnect`),
  };
  if (alertChannel !== undefined) {
    config.alertChannel = alertChannel;
  }
  if (obj.sasl !== undefined) {
    config.sasl = parseSasl(obj.sasl, `${keyPath}.sasl`);
  }
  return config;
}

function parseSasl(value: unknown, keyPath: string): { account: string; password: string } {
  const obj = asObject(value, keyPath);
  const account = requireString(obj.account, `${keyPath}.account`);
  const raw = requireString(obj.password, `${keyPath}.password`);
  return { account, password: resolveSecret(raw, `${keyPath}.password`) };
}

/** `env:NAME` reads the secret from the environment so it stays out of the config file. */
function resolveSecret(raw: string, keyPath: string): string {
  if (!raw.startsWith('env:')) {
    return raw;
  }
  const name = raw.slice(4);
  const found = process.env[name];
  if (found === undefined || found === '') {
    throw new ConfigError(
      `${keyPath} names the environment variable ${name}, which is not set; ` +
        `export ${name}=... before starting crewvz`,
    );
  }
  return found;
}

/**
 * YAML reads an unquoted `#crew` as a comment, so `alertChannel: #crew` arrives as null and
 * `channels: #lab` or `- #lab` as null too: say so, and how to write it, instead of calling the
 * key missing.
 */
function refuseCommentedChannel(value: unknown, keyPath: string, example: string): void {
  if (value !== null) {
    return;
  }
  const key = keyPath.slice(keyPath.lastIndexOf('.') + 1).replace(/\[\d+\]$/, '');
  throw new ConfigError(
    `${keyPath} has no value: YAML reads an unquoted # as the start of a comment, ` +
      `so quote channel names, e.g. ${key}: ${example}`,
  );
}

function parseChannels(value: unknown, keyPath: string): string[] {
  refuseCommentedChannel(value, keyPath, '["#lab"]');
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(`${keyPath} must be a non-empty list of channels, e.g. ["#openvz"]`);
  }
  return value.map((item, index) => {
    refuseCommentedChannel(item, `${keyPath}[${index}]`, '["#lab"]');
    if (typeof item !== 'string' || !CHANNEL_RE.test(item)) {
      throw new ConfigError(`${keyPath}[${index}] must be a channel name such as "#openvz"`);
    }
    return item;
  });
}

function parseRate(value: unknown, keyPath: string): IrcRate {
  if (value === undefined) {
    return { ...DEFAULT_IRC_RATE };
  }
  const obj = asObject(value, keyPath);
  const rate = { ...DEFAULT_IRC_RATE };
  for (const key of Object.keys(rate) as (keyof IrcRate)[]) {
    if (obj[key] !== undefined) {
      rate[key] = positiveNumber(obj[key], `${keyPath}.${key}`);
    }
  }
  return rate;
}

function parseReconnect(value: unknown, keyPath: string): IrcReconnect {
  if (value === undefined) {
    return { ...DEFAULT_IRC_RECONNECT };
  }
  const obj = asObject(value, keyPath);
  const reconnect = { ...DEFAULT_IRC_RECONNECT };
  for (const key of ['minMs', 'maxMs'] as const) {
    if (obj[key] !== undefined) {
      reconnect[key] = positiveNumber(obj[key], `${keyPath}.${key}`);
    }
  }
  if (reconnect.maxMs < reconnect.minMs) {
    throw new ConfigError(`${keyPath}.maxMs must be at least ${keyPath}.minMs`);
  }
  return reconnect;
}

function parsePort(value: unknown, keyPath: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ConfigError(`${keyPath}.port must be a number from 1 to 65535`);
  }
  return value;
}

function positiveNumber(value: unknown, keyPath: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${keyPath} must be a number greater than 0`);
  }
  return value;
}

function asObject(value: unknown, keyPath: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${keyPath} must be a mapping (key: value pairs)`);
  }
  return value as Record<string, unknown>;
}

function requireString(value: unknown, keyPath: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`${keyPath} is required and must be a non-empty string`);
  }
  return value;
}

function optionalString(value: unknown, keyPath: string): string | undefined {
  return value === undefined ? undefined : requireString(value, keyPath);
}

function optionalBoolean(value: unknown, keyPath: string): boolean | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'boolean') {
    throw new ConfigError(`${keyPath} must be true or false`);
  }
  return value;
}
