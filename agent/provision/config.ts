/**
 * The provisioning part of the agent config. Every host path sits under `root` ("/" on a node,
 * a scratch folder in tests); the sub-paths are relative to it and have defaults that match a
 * Debian node with Apache.
 *
 *   root: /
 *   stateDir: /var/lib/crewvz-agent
 *   network: {pool: 10.0.5.0/24, nameservers: [10.0.5.1], searchdomain: example.edu,
 *             domain: vz.example.edu}
 *   provision: {keysDir: var/lib/crewvz/keys, shellsDir: usr/local/lib/crewvz/shells,
 *               mapFile: etc/apache2/crewvz-vhosts.map, ssh: /usr/bin/ssh,
 *               authorizedKeysDir: etc/crewvz/authorized_keys}
 */
import path from 'node:path';

export interface NetworkConfig {
  pool: string;
  nameservers: string[];
  searchdomain: string | null;
  /** VEs are named USERNAME.DOMAIN. */
  domain: string;
}

export interface ProvisionPaths {
  keysDir: string;
  shellsDir: string;
  mapFile: string;
  /** The ssh client the login shell execs, as the host sees it. */
  ssh: string;
  /**
   * Where `authorize` puts each host account's login key (sshd's AuthorizedKeysFile); left out,
   * DEFAULT_AUTHORIZED_KEYS_DIR.
   */
  authorizedKeysDir?: string;
}

export const DEFAULT_AUTHORIZED_KEYS_DIR = 'etc/crewvz/authorized_keys';

export interface ProvisionConfig {
  root: string;
  stateDir: string;
  network: NetworkConfig;
  paths: ProvisionPaths;
  /** Beancounter defaults saved with every new VE: resource → `barrier[:limit]`. */
  limits: Record<string, string>;
}

export const DEFAULT_PATHS: ProvisionPaths = {
  keysDir: 'var/lib/crewvz/keys',
  shellsDir: 'usr/local/lib/crewvz/shells',
  mapFile: 'etc/apache2/crewvz-vhosts.map',
  ssh: '/usr/bin/ssh',
  authorizedKeysDir: DEFAULT_AUTHORIZED_KEYS_DIR,
};

const RELATIVE_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

export class ProvisionConfigError extends Error {
  constructor(key: string, why: string) {
    super(`${key}: ${why}`);
    this.name = 'ProvisionConfigError';
  }
}

function record(value: unknown, key: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvisionConfigError(key, 'must be a mapping');
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, key: string, pattern: RegExp, hint: string): string {
  if (typeof value !== 'string' || !pattern.test(value) || value.split('/').includes('..')) {
    throw new ProvisionConfigError(key, `must be ${hint}`);
  }
  return value;
}

export function parsePaths(raw: unknown): ProvisionPaths {
  const given = raw === undefined ? {} : record(raw, 'provision');
  const relative = (key: 'keysDir' | 'shellsDir' | 'mapFile' | 'authorizedKeysDir'): string =>
    given[key] === undefined
      ? (DEFAULT_PATHS[key] ?? DEFAULT_AUTHORIZED_KEYS_DIR)
      : text(given[key], `provision.${key}`, RELATIVE_PATH, 'a plain path relative to root');

  const ssh =
    given.ssh === undefined
      ? DEFAULT_PATHS.ssh
      : text(given.ssh, 'provision.ssh', /^\/[A-Za-z0-9._/-]+$/, 'an absolute plain path');

  return {
    keysDir: relative('keysDir'),
    shellsDir: relative('shellsDir'),
    mapFile: relative('mapFile'),
    ssh,
    authorizedKeysDir: relative('authorizedKeysDir'),
  };
}

/** A host path under root, as the agent opens it. */
export function underRoot(config: ProvisionConfig, subPath: string): string {
  return path.join(config.root, subPath);
}

/** The folder of the students' login keys, under root. */
export function authorizedKeysDirectory(config: ProvisionConfig): string {
  return underRoot(config, config.paths.authorizedKeysDir ?? DEFAULT_AUTHORIZED_KEYS_DIR);
}

/** The same path as the host's own programs (sshd, the login shell) see it. */
export function hostView(subPath: string): string {
  return path.posix.join('/', subPath);
}
