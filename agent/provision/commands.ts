/**
 * Provisioning's entries in the agent's command table: `create` and `remove` go through the
 * Provisioner when `network.pool` is configured (and `authorize` installs a student's login
 * key then), and `update` syncs templates when
 * `templateSource` is. Built once at start, so a bad provisioning config stops the agent with
 * the key named, before it opens its port.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

import { create as plainCreate } from '../commands.ts';
import { AgentConfigError, type AgentConfig } from '../config.ts';
import { DriverError, type Driver } from '../driver.ts';
import { defineHandler, type CommandHandler } from '../handlers.ts';
import { AgentCode } from '../protocol.ts';
import { redactUrlCredentials, redactedMessage } from '../redact.ts';
import { checkCount, parseVeId } from '../validate.ts';
import { parsePool } from './addresses.ts';
import { authorizeKey } from './authorize.ts';
import {
  authorizedKeysDirectory,
  parsePaths,
  underRoot,
  type ProvisionConfig,
} from './config.ts';
import { checkGuardedDirectories } from './dir-safety.ts';
import { Provisioner, type ProvisionDriver } from './provisioner.ts';
import { parsePublicKey, type PublicKey } from './public-key.ts';
import { syncTemplates } from './template-sync.ts';

/** Where records go when the config names no stateDir (the vzctl driver needs none). */
export const DEFAULT_STATE_SUBDIR = 'var/lib/crewvz-agent';

/** Templates run to hundreds of megabytes; a slow mirror may need this long. */
export const UPDATE_TIMEOUT_MS = 30 * 60_000;

interface CreateArgs {
  id: number;
  template: string;
  username: string;
}

function configError(error: unknown): AgentConfigError {
  return new AgentConfigError(error instanceof Error ? error.message : String(error));
}

/** The provisioning config, or null when `network.pool` is not set (plain create/remove). */
export function provisionConfigFrom(config: AgentConfig): ProvisionConfig | null {
  const { pool, nameservers, searchdomain, domain } = config.network;
  if (pool === null) {
    return null;
  }
  if (domain === null) {
    throw new AgentConfigError(
      'network.domain: required when network.pool is set (VEs are named USERNAME.DOMAIN)',
    );
  }

  try {
    parsePool(pool);
    return {
      root: config.root,
      stateDir: config.stateDir ?? path.join(config.root, DEFAULT_STATE_SUBDIR),
      network: { pool, nameservers, searchdomain, domain },
      paths: parsePaths(config.provision),
      limits: config.limits,
    };
  } catch (error) {
    throw configError(error);
  }
}

function hasAddUser(driver: Driver): driver is Driver & ProvisionDriver {
  return typeof driver.addUser === 'function';
}

function provisioningCommands(
  settings: ProvisionConfig,
  logger: Logger,
): Record<string, CommandHandler> {
  // One Provisioner per driver: its address pool's lock must be shared by every create.
  const provisioners = new WeakMap<Driver, Provisioner>();
  const provisionerFor = (driver: Driver): Provisioner => {
    if (!hasAddUser(driver)) {
      throw new DriverError(AgentCode.INTERNAL, [
        `the ${driver.name} driver cannot add users inside a VE, so this agent cannot ` +
          'provision; remove network.pool from its config or use a driver with addUser',
      ]);
    }
    const made = provisioners.get(driver) ?? new Provisioner({ config: settings, driver, logger });
    provisioners.set(driver, made);
    return made;
  };

  const create = defineHandler<CreateArgs>({
    usage: plainCreate.usage,
    exclusive: true,
    journaled: true,
    parse: async (args, context) => (await plainCreate.parse(args, context)) as CreateArgs,
    ve: (parsed) => parsed.id,
    run: async ({ id, template, username }, { driver }) => [
      await provisionerFor(driver).create(id, template, username),
    ],
  });

  const remove = defineHandler<number>({
    usage: 'remove ID',
    exclusive: true,
    parse(args) {
      checkCount(args, 1, 1);
      return parseVeId(args[0]);
    },
    ve: (id) => id,
    async run(id, { driver }) {
      await provisionerFor(driver).remove(id);
      return [];
    },
  });

  // The VE's lock keeps it apart from a create or remove of the same VE rewriting its record.
  const authorize = defineHandler<{ id: number; key: PublicKey }>({
    usage: 'authorize ID KEY',
    exclusive: true,
    parse(args) {
      checkCount(args, 2, 2);
      return { id: parseVeId(args[0]), key: parsePublicKey(args[1]) };
    },
    ve: (parsed) => parsed.id,
    run: async ({ id, key }, { driver }) => [
      await authorizeKey(id, key, {
        records: provisionerFor(driver).records,
        directory: authorizedKeysDirectory(settings),
        logger,
      }),
    ],
  });

  return { create, remove, authorize };
}

async function updateCommand(config: AgentConfig, logger: Logger): Promise<CommandHandler> {
  const source = config.templateSource as string;
  // What answers and logs may show: a mirror's user:password stays in `source` only.
  const shown = redactUrlCredentials(source);
  if (!source.startsWith('https://') && !path.isAbsolute(source)) {
    throw new AgentConfigError(
      `templateSource: '${shown}' must be an https:// URL or an absolute directory`,
    );
  }

  let ca: string | null = null;
  if (config.templateSourceCa !== null) {
    try {
      ca = await readFile(config.templateSourceCa, 'utf8');
    } catch (error) {
      throw new AgentConfigError(
        `templateSourceCa: cannot read ${config.templateSourceCa}: ${(error as Error).message}`,
      );
    }
  }

  // One sync at a time: a second would only queue behind the first for up to 30 minutes.
  let syncing = false;

  return defineHandler<null>({
    usage: 'update',
    exclusive: false,
    timeoutMs: UPDATE_TIMEOUT_MS,
    parse(args) {
      checkCount(args, 0, 0);
      return null;
    },
    async run() {
      if (syncing) {
        throw new DriverError(AgentCode.VE_BUSY, [
          'a template update is already running on this node; try again when it has finished',
        ]);
      }
      syncing = true;
      try {
        return [await syncTemplates({ source, cacheDir: config.templates, ca, logger })];
      } catch (error) {
        // Single templates are reported in the result; this is the index or the cache failing.
        throw new DriverError(AgentCode.STEP_FAILED, [
          `template update from ${shown} failed: ${redactedMessage(error)}`,
          'no template was changed',
        ]);
      } finally {
        syncing = false;
      }
    },
  });
}

/** The commands provisioning adds or replaces for this config; empty when it is not set up. */
export async function provisioningHandlers(
  config: AgentConfig,
  logger: Logger,
): Promise<Record<string, CommandHandler>> {
  const handlers: Record<string, CommandHandler> = {};
  const settings = provisionConfigFrom(config);

  if (settings !== null) {
    const { paths } = settings;
    try {
      await checkGuardedDirectories([
        { key: 'provision.keysDir', directory: underRoot(settings, paths.keysDir) },
        { key: 'provision.shellsDir', directory: underRoot(settings, paths.shellsDir) },
        {
          key: 'provision.mapFile',
          directory: path.dirname(underRoot(settings, paths.mapFile)),
        },
        { key: 'stateDir', directory: settings.stateDir },
        { key: 'provision.authorizedKeysDir', directory: authorizedKeysDirectory(settings) },
      ]);
    } catch (error) {
      throw configError(error);
    }
    const provisionLogger = logger.child({ component: 'provision' });
    Object.assign(handlers, provisioningCommands(settings, provisionLogger));
  }
  if (config.templateSource !== null) {
    handlers.update = await updateCommand(config, logger.child({ component: 'templates' }));
  }
  return handlers;
}
