/**
 * The agent's YAML config: read once at start into a typed object. A bad value stops the agent
 * with a message naming its key; unknown keys are reported as warnings. A string `env:NAME`
 * anywhere takes the value of environment variable NAME. Relative paths are relative to the
 * config file.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

import { DEFAULT_HANDSHAKES_PER_ADDRESS } from './handshake-guard.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import {
  NodeNameRule,
  PKI_OWN_NAMES,
  Reader,
  checkListen,
  type Listen,
} from './config-read.ts';
import { DEFAULT_MAX_CONNECTIONS } from './server.ts';

export class AgentConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentConfigError';
  }
}

export interface NetworkConfig {
  /** Where provisioning takes VE addresses from: 10.1.0.0/24 or 10.1.0.10-10.1.0.200. */
  pool: string | null;
  nameservers: string[];
  searchdomain: string | null;
  /** When set, a new VE's hostname is USERNAME.DOMAIN. */
  domain: string | null;
}

export interface PkiFiles {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

export interface AgentConfig {
  name: string;
  listen: Listen;
  pki: PkiFiles;
  driver: 'vzctl' | 'sim';
  stateDir: string | null;
  vzctl: string;
  vzlist: string;
  /** null means the driver's own default (the sim keeps one in its stateDir). */
  beancounters: string | null;
  templates: string;
  root: string;
  network: NetworkConfig;
  limits: Record<string, string>;
  templateSource: string | null;
  /** PEM file of the CA that signs an https templateSource; null trusts Node's store. */
  templateSourceCa: string | null;
  /** Provisioning sub-paths under root; checked by agent/provision/config.ts. */
  provision: Record<string, unknown>;
  logLevel: LogLevel;
  /** Connections the port holds at once, authenticated or not (the bot needs one). */
  maxConnections: number;
  /** Connections one address may have in the TLS handshake at once. */
  maxHandshakesPerAddress: number;
}


export interface LoadedConfig {
  config: AgentConfig;
  warnings: string[];
}

const TOP_KEYS = [
  'name',
  'listen',
  'pki',
  'driver',
  'stateDir',
  'vzctl',
  'vzlist',
  'beancounters',
  'templates',
  'root',
  'network',
  'limits',
  'templateSource',
  'templateSourceCa',
  'provision',
  'logLevel',
  'maxConnections',
  'maxHandshakesPerAddress',
];

/**
 * `limits:` as written replaces the profile; without it a vzctl node saves DEFAULT_LIMITS and the
 * sim keeps its own small VE's limits (so demos and alert tests see failures soon).
 */
function limitsFor(raw: unknown, driver: 'vzctl' | 'sim', read: Reader): Record<string, string> {
  if (raw === undefined) {
    return driver === 'vzctl' ? { ...DEFAULT_LIMITS } : {};
  }
  return read.limits(raw, 'limits');
}

/** Builds the typed config from parsed YAML; `base` resolves relative paths. */
export function buildConfig(
  raw: unknown,
  base: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const read = new Reader(env, base, (message) => new AgentConfigError(message));
  const top = read.object(raw, '');
  read.warnUnknown(top, TOP_KEYS, '');

  const name = read.string(top.name, 'name', { required: true, pattern: NodeNameRule }) as string;
  if (PKI_OWN_NAMES.includes(name)) {
    throw read.fail(
      `name: '${name}' is taken by the PKI's own ${name}.crt and ${name}.key; give the node ` +
        `its own name (and issue its certificate with crewvz pki issue-agent NAME)`,
    );
  }
  const driver = read.choice(top.driver, 'driver', ['vzctl', 'sim'] as const, 'vzctl');
  const stateDir = read.path(top.stateDir, 'stateDir');
  if (driver === 'sim' && stateDir === null) {
    throw new AgentConfigError('stateDir: required when driver is sim (where the sim keeps VEs)');
  }
  const pkiDir = read.path(top.pki, 'pki');
  if (pkiDir === null) {
    throw new AgentConfigError('pki: required (the directory with ca.crt, NAME.crt and NAME.key)');
  }

  const templatesDefault =
    driver === 'sim' && stateDir ? path.join(stateDir, 'templates') : '/vz/template/cache';
  const netRaw = top.network === undefined ? {} : read.object(top.network, 'network');
  read.warnUnknown(netRaw, ['pool', 'nameservers', 'searchdomain', 'domain'], 'network.');

  const config: AgentConfig = {
    name,
    listen: checkListen(read.string(top.listen, 'listen') ?? '0.0.0.0:7070', read),
    pki: {
      dir: pkiDir,
      ca: path.join(pkiDir, 'ca.crt'),
      cert: path.join(pkiDir, `${name}.crt`),
      key: path.join(pkiDir, `${name}.key`),
    },
    driver,
    stateDir,
    vzctl: read.path(top.vzctl, 'vzctl') ?? '/usr/sbin/vzctl',
    vzlist: read.path(top.vzlist, 'vzlist') ?? '/usr/sbin/vzlist',
    beancounters:
      read.path(top.beancounters, 'beancounters') ??
      (driver === 'vzctl' ? '/proc/user_beancounters' : null),
    templates: read.path(top.templates, 'templates') ?? templatesDefault,
    root: read.path(top.root, 'root') ?? '/',
    network: {
      pool: read.pool(netRaw.pool, 'network.pool'),
      nameservers: read.ipList(netRaw.nameservers, 'network.nameservers'),
      searchdomain: read.dnsName(netRaw.searchdomain, 'network.searchdomain'),
      domain: read.dnsName(netRaw.domain, 'network.domain'),
    },
    limits: limitsFor(top.limits, driver, read),
    templateSource: read.string(top.templateSource, 'templateSource'),
    templateSourceCa: read.path(top.templateSourceCa, 'templateSourceCa'),
    provision: top.provision === undefined ? {} : read.object(top.provision, 'provision'),
    logLevel: read.choice(top.logLevel, 'logLevel', LOG_LEVELS, 'info'),
    maxConnections: read.count(top.maxConnections, 'maxConnections', DEFAULT_MAX_CONNECTIONS),
    maxHandshakesPerAddress: read.count(
      top.maxHandshakesPerAddress,
      'maxHandshakesPerAddress',
      DEFAULT_HANDSHAKES_PER_ADDRESS,
    ),
  };
  return { config, warnings: read.warnings };
}

/** Reads and checks FILE; every error message starts with the file and names the key. */
export async function loadAgentConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AgentConfigError(`cannot read the config file ${file}: ${reason}`);
  }

  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AgentConfigError(`${file} is not valid YAML: ${reason}`);
  }

  try {
    return buildConfig(raw ?? {}, path.dirname(path.resolve(file)), env);
  } catch (error) {
    if (error instanceof AgentConfigError) {
      throw new AgentConfigError(`${file}: ${error.message}`);
    }
    throw error;
  }
}

/** Fails naming the first PKI file the agent cannot read, before it opens its port. */
export async function checkPkiFiles(pki: PkiFiles): Promise<void> {
  for (const [what, file] of [
    ['the CA certificate', pki.ca],
    ["this node's certificate", pki.cert],
    ["this node's key", pki.key],
  ] as const) {
    try {
      await access(file, constants.R_OK);
    } catch {
      throw new AgentConfigError(
        `pki: cannot read ${what} ${file}; make it with 'crewvz pki issue-agent' and copy it here`,
      );
    }
  }
}
