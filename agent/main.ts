/**
 * `crewvz agent --config FILE`: the node agent daemon. Also runnable on its own:
 * `node --import tsx agent/main.ts --config FILE`.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';

import { builtinHandlers } from './commands.ts';
import { AgentConfigError, checkPkiFiles, loadAgentConfig, type AgentConfig } from './config.ts';
import { checkPkiMaterial } from './config-pki.ts';
import type { Driver } from './driver.ts';
import { Dispatcher, type CommandHandler } from './handlers.ts';
import { createAgentLogger } from './log.ts';
import { CreateJournal } from './create-journal.ts';
import { recoverInterruptedCreates } from './create-recovery.ts';
import { DEFAULT_STATE_SUBDIR, provisioningHandlers } from './provision/commands.ts';
import { AgentServer, type AgentServerOptions } from './server.ts';

const USAGE = 'usage: crewvz agent --config FILE';

export interface RunningAgent {
  address: AddressInfo;
  dispatcher: Dispatcher;
  /** Resolves once every create a killed agent left half done is undone (at once if none). */
  recovered: Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** A driver to use instead of the one the config names (tests of a wrapped driver). */
  driver?: Driver;
  /** Extra or replacement commands, e.g. provisioning's `update` and `create`. */
  handlers?: Record<string, CommandHandler>;
  operationTimeoutMs?: number;
  /** Server timings tests shorten (the handshake timeout, the refusal log interval). */
  server?: Pick<AgentServerOptions, 'handshakeTimeoutMs' | 'refusalLogIntervalMs'>;
  /** How long an interrupted create's failed undo waits before the next try. */
  recoveryRetryMs?: number;
}

/** Where the agent keeps its own state: the config's stateDir, else one under root. */
function stateDirOf(config: AgentConfig): string {
  return config.stateDir ?? path.join(config.root, DEFAULT_STATE_SUBDIR);
}

async function makeDriver(config: AgentConfig, logger: Logger): Promise<Driver> {
  // Each driver binds its own name, so only the component is bound here.
  const driverLogger = logger.child({ component: 'driver' });
  if (config.driver === 'sim') {
    const { createSimDriver } = await import('./sim.ts');
    return createSimDriver({
      stateDir: config.stateDir as string,
      templatesDir: config.templates,
      ...(config.beancounters ? { beancountersFile: config.beancounters } : {}),
      logger: driverLogger,
    });
  }
  const { createVzctlDriver } = await import('./vzctl.ts');
  return createVzctlDriver({
    vzctl: config.vzctl,
    vzlist: config.vzlist,
    beancounters: config.beancounters ?? '/proc/user_beancounters',
    templatesDir: config.templates,
    logger: driverLogger,
  });
}

/** Opens the driver and the TLS port for a loaded config. */
export async function startAgent(
  config: AgentConfig,
  options: StartOptions,
): Promise<RunningAgent> {
  const { logger } = options;
  await checkPkiFiles(config.pki);
  const material = {
    ca: await readFile(config.pki.ca, 'utf8'),
    cert: await readFile(config.pki.cert, 'utf8'),
    key: await readFile(config.pki.key, 'utf8'),
  };
  checkPkiMaterial(config.name, config.pki, material);

  // Before the driver opens, so a bad provisioning config stops the agent with nothing to close.
  const provisioning = await provisioningHandlers(config, logger);
  const driver = options.driver ?? (await makeDriver(config, logger));
  const journal = new CreateJournal(path.join(stateDirOf(config), 'creating'));
  const dispatcher = new Dispatcher({
    driver,
    settings: { name: config.name, domain: config.network.domain, limits: config.limits },
    logger: logger.child({ component: 'requests' }),
    handlers: { ...builtinHandlers(), ...provisioning, ...options.handlers },
    ...(options.operationTimeoutMs ? { operationTimeoutMs: options.operationTimeoutMs } : {}),
    journal,
  });
  // Before the port opens: no request may see a VE whose create was cut short.
  const recovery = await recoverInterruptedCreates({
    journal,
    dispatcher,
    logger: logger.child({ component: 'recovery' }),
    ...(options.recoveryRetryMs ? { retryMs: options.recoveryRetryMs } : {}),
  });
  const server = new AgentServer({
    tls: material,
    dispatcher,
    logger: logger.child({ component: 'server' }),
    host: config.listen.host,
    port: config.listen.port,
    maxConnections: config.maxConnections,
    handshakesPerAddress: config.maxHandshakesPerAddress,
    ...options.server,
  });

  let address: AddressInfo;
  try {
    address = await server.start();
  } catch (error) {
    recovery.stop();
    await driver.close();
    throw error;
  }
  return {
    address,
    dispatcher,
    recovered: recovery.done,
    async stop() {
      recovery.stop();
      await server.stop();
      await dispatcher.idle();
      await driver.close();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let configFile: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
    configFile = values.config;
  } catch (error) {
    process.stderr.write(`crewvz agent: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!configFile) {
    process.stderr.write(`crewvz agent: --config FILE is required\n${USAGE}\n`);
    return 2;
  }

  let config: AgentConfig;
  let logger: Logger;
  let agent: RunningAgent;
  try {
    const loaded = await loadAgentConfig(configFile);
    config = loaded.config;
    logger = createAgentLogger(config.logLevel).child({ node: config.name });
    for (const warning of loaded.warnings) {
      logger.warn({ config: configFile }, warning);
    }
    agent = await startAgent(config, { logger });
  } catch (error) {
    if (error instanceof AgentConfigError) {
      process.stderr.write(`crewvz agent: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  logger.info('stopping');
  await agent.stop();
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (error: unknown) => {
      process.stderr.write(`crewvz agent: ${error instanceof Error ? error.message : error}\n`);
      process.exitCode = 1;
    },
  );
}
