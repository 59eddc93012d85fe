/**
 * The bot's YAML config (`crewvz bot --config FILE`), read once into a typed object. Relative
 * paths are taken from the config file's folder. Invalid values stop the bot with a message that
 * names the key; unknown keys are only warned about.
 */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

import { parseIrcConfig, type IrcConfig } from '../adapters/irc-config.ts';
import { Checker, type Env } from './config-check.ts';
import { ConfigError } from './errors.ts';
import { isIdentity } from './roles.ts';
import { parseAlertsConfig, type AlertsSettings } from './watcher/config.ts';

export interface NodeConfig {
  name: string;
  /** `host:port` of the node's agent. */
  address: string;
  /** The public host name students ssh to; the parser fills in the node's name. */
  sshHost?: string;
  /** When set, a VE's web address is http://USERNAME.WEBDOMAIN/. */
  webDomain?: string | null;
}

export interface ShellAdapterConfig {
  /** Who the terminal user is: `shell:<login>`. */
  login: string;
}

export interface BotConfig {
  database: string;
  pki: string;
  logLevel: string;
  /**
   * Where JSON log lines go. Null: stdout, unless the terminal adapter is on; then a file next
   * to the database (see logFileFor), so logs and chat never share the terminal.
   */
  logFile?: string | null;
  nodes: NodeConfig[];
  roles: { admins: string[]; crew: string[] };
  adapters: {
    shell: ShellAdapterConfig | null;
    irc: IrcConfig | null;
  };
  quotas: { activeVes: number; pendingRequests: number };
  requests: { expireDays: number; defaultTemplate: string | null };
  /** The beancounter watcher (src/watcher/config.ts checks the section). */
  alerts: AlertsSettings;
}

export interface LoadedConfig {
  config: BotConfig;
  warnings: string[];
}

const TOP_KEYS = [
  'database',
  'pki',
  'logLevel',
  'logFile',
  'nodes',
  'roles',
  'adapters',
  'quotas',
  'requests',
  'alerts',
];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const NODE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`, 'i');
const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

const NO_ADMIN =
  'roles.admins is empty: crewvz refuses to run with nobody in charge. Add your own identity, ' +
  'for example\n  roles:\n    admins: ["irc:yourservicesaccount"]\n' +
  '(irc:<services account>, slack:<user id> or shell:<login>)';

const NO_ADAPTER =
  'adapters names no chat adapter, so nobody could talk to the bot. Add one, for example\n' +
  '  adapters:\n    shell: {}            # this terminal\n' +
  'or adapters.irc (see docs/irc.md)';

function isNotAlerts(warning: string): boolean {
  return !warning.startsWith('unknown config key alerts.');
}

function parseNodes(check: Checker, value: unknown): NodeConfig[] {
  const items = check.list(value, 'nodes');
  if (items.length === 0) {
    throw new ConfigError('nodes must list at least one node: - {name: node1, address: host:7070}');
  }
  const seen = new Set<string>();

  return items.map((item, index) => {
    const key = `nodes[${index}]`;
    const raw = check.object(item, key, ['name', 'address', 'sshHost', 'webDomain']);
    const name = check.string(raw.name, `${key}.name`);
    if (!NODE_NAME.test(name)) {
      throw new ConfigError(`${key}.name '${name}' must be a hostname label (a-z, 0-9, -)`);
    }
    if (seen.has(name)) {
      throw new ConfigError(`${key}.name '${name}' appears twice; node names must be unique`);
    }
    seen.add(name);

    const address = check.string(raw.address, `${key}.address`);
    const port = ADDRESS.exec(address)?.[1];
    if (port === undefined) {
      throw new ConfigError(`${key}.address '${address}' must be host:port, like 10.0.0.2:7070`);
    }
    if (Number(port) < 1 || Number(port) > 65535) {
      throw new ConfigError(`${key}.address '${address}': the port must be from 1 to 65535`);
    }
    const sshHost = hostName(check, raw.sshHost, `${key}.sshHost`) ?? name;
    const webDomain = hostName(check, raw.webDomain, `${key}.webDomain`);
    return { name, address, sshHost, webDomain };
  });
}

function hostName(check: Checker, value: unknown, key: string): string | null {
  const text = check.optionalString(value, key);
  if (text !== null && !HOST_NAME.test(text)) {
    throw new ConfigError(`${key} '${text}' must be a DNS name like lab.example.edu`);
  }
  return text;
}

function parseIdentities(check: Checker, value: unknown, key: string): string[] {
  return check.list(value, key).map((item, index) => {
    const identity = check.string(item, `${key}[${index}]`);
    if (!isIdentity(identity)) {
      throw new ConfigError(
        `${key}[${index}] '${identity}' is not an identity: write adapter:id, like irc:alice`,
      );
    }
    return identity;
  });
}

function parseIrc(value: unknown): IrcConfig | null {
  return value === undefined || value === null ? null : parseIrcConfig(value, 'adapters.irc');
}

function parseShell(check: Checker, value: unknown): ShellAdapterConfig | null {
  if (value === undefined || value === null || value === false) {
    return null;
  }
  const raw = value === true ? {} : check.object(value, 'adapters.shell', ['login']);
  const login = check.optionalString(raw.login, 'adapters.shell.login') ?? userInfo().username;
  return { login };
}

export function parseConfig(value: unknown, baseDir: string, env: Env = process.env): LoadedConfig {
  const check = new Checker(env);
  const top = check.object(value, '', TOP_KEYS);
  const file = (key: string, raw: unknown): string =>
    path.resolve(baseDir, check.string(raw, key));

  const roles = check.object(top.roles, 'roles', ['admins', 'crew']);
  const admins = parseIdentities(check, roles.admins, 'roles.admins');
  if (admins.length === 0) {
    throw new ConfigError(NO_ADMIN);
  }
  const adapters = check.object(top.adapters, 'adapters', ['shell', 'irc']);
  const shell = parseShell(check, adapters.shell);
  const irc = parseIrc(adapters.irc);
  if (shell === null && irc === null) {
    throw new ConfigError(NO_ADAPTER);
  }
  const quotas = check.object(top.quotas, 'quotas', ['activeVes', 'pendingRequests']);
  const requests = check.object(top.requests, 'requests', ['expireDays', 'defaultTemplate']);
  // The watcher checks its own keys, so the generic unknown-key warnings for alerts are dropped.
  const alertsRaw = check.object(top.alerts, 'alerts', []);
  check.warnings.splice(0, check.warnings.length, ...check.warnings.filter(isNotAlerts));
  const alerts = parseAlertsConfig(alertsRaw);
  check.warnings.push(...alerts.warnings);

  const config: BotConfig = {
    database: file('database', top.database ?? 'crewvz.db'),
    pki: file('pki', top.pki),
    logLevel: check.oneOf(top.logLevel, 'logLevel', LOG_LEVELS, 'info'),
    logFile: top.logFile === undefined || top.logFile === null
      ? null
      : file('logFile', top.logFile),
    nodes: parseNodes(check, top.nodes),
    roles: { admins, crew: parseIdentities(check, roles.crew, 'roles.crew') },
    adapters: { shell, irc },
    quotas: {
      activeVes: check.integer(quotas.activeVes, 'quotas.activeVes', 0, 1),
      pendingRequests: check.integer(quotas.pendingRequests, 'quotas.pendingRequests', 0, 1),
    },
    requests: {
      expireDays: check.integer(requests.expireDays, 'requests.expireDays', 1, 7),
      defaultTemplate: check.optionalString(requests.defaultTemplate, 'requests.defaultTemplate'),
    },
    alerts: alerts.settings,
  };
  return { config, warnings: check.warnings };
}

/**
 * The log file the bot writes: the configured one or, with the terminal adapter on, a file next
 * to the database; null means stdout.
 */
export function logFileFor(config: BotConfig): string | null {
  if (config.logFile !== undefined && config.logFile !== null) {
    return config.logFile;
  }
  if (config.adapters.shell === null) {
    return null;
  }
  return path.join(path.dirname(config.database), 'crewvz.log');
}

export async function loadConfig(file: string, env: Env = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read the config file ${file} (${reason})`);
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${file} is not valid YAML: ${reason}`);
  }
  return parseConfig(value, path.dirname(path.resolve(file)), env);
}
