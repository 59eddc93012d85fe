/**
 * The bot, wired: config → store → node pool → provisioner and workflow → dispatcher →
 * adapters, plus the beancounter watcher. Beyond the wiring it routes unprompted messages to the
 * right adapter, runs housekeeping (stale requests expired, half-done creates reconciled) at
 * start and every minute, and stops everything in order.
 */
import { IrcAdapter } from '../adapters/irc.ts';
import type { ChatAdapter, Destination, Reply } from '../adapters/types.ts';
import { COMMANDS } from '../commands/index.ts';
import type { BotConfig } from './config.ts';
import { Dispatcher } from './dispatcher.ts';
import type { Logger } from './log.ts';
import { NodePool } from './nodes.ts';
import type { Notifier } from './notify.ts';
import { loadTlsMaterial } from './pki.ts';
import { Provisioner } from './provisioner.ts';
import { Roles } from './roles.ts';
import type { Services } from './services.ts';
import { Store } from './store/index.ts';
import { takeInstanceLock, type InstanceLock } from './store/instance-lock.ts';
import { VeOperations } from './ve-ops.ts';
import type { BeancounterWatcher } from './watcher/watcher.ts';
import { createBotWatcher } from './watcher/wiring.ts';
import { Workflow } from './workflow.ts';

/** How often requests stuck in provisioning are retried and stale ones expired. */
const HOUSEKEEPING_MS = 60_000;

export interface BotOptions {
  config: BotConfig;
  logger: Logger;
  /** Adapters made by the caller (the demo's terminal, tests); the config's are added. */
  adapters?: ChatAdapter[];
  now?: () => Date;
  callTimeoutMs?: number;
  /** How !whoami explains a role from the config (default `from the config`). */
  roleSource?: string;
}

export class Bot {
  readonly services: Services;
  readonly dispatcher: Dispatcher;
  /** Polls the nodes' beancounters; null when `alerts.enabled` is false. */
  readonly watcher: BeancounterWatcher | null;
  private readonly adapters: ChatAdapter[];
  private readonly provisioner: Provisioner;
  private timer: NodeJS.Timeout | null = null;
  /** This bot's hold on its database: released last, by stop(). */
  private lock: InstanceLock | null = null;
  private housekeeping: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: BotOptions,
    store: Store,
    nodes: NodePool,
  ) {
    const { config, logger } = options;
    const now = options.now ?? (() => new Date());
    this.adapters = [...(options.adapters ?? []), ...adaptersFromConfig(config, logger)];

    const notifier: Notifier = {
      toUser: (identity, reply) => this.send(identity.split(':', 1)[0] ?? '', reply, {
        kind: 'user',
        identity,
      }),
      toAlerts: async (reply, adapter) => {
        const names = adapter === undefined ? this.adapters.map((a) => a.name) : [adapter];
        await Promise.all(names.map((name) => this.send(name, reply, { kind: 'alerts' })));
      },
    };
    const roles = new Roles(config.roles, store.grants);
    const provisionerLog = logger.child({ component: 'provisioner' });
    this.provisioner = new Provisioner({ store, nodes, notifier, logger: provisionerLog, now });
    const workflow = new Workflow({
      store,
      nodes,
      provisioner: this.provisioner,
      notifier,
      logger: logger.child({ component: 'workflow' }),
      now,
      roleOf: (identity) => roles.roleOf(identity),
      expireDays: config.requests.expireDays,
      quotas: config.quotas,
      defaultTemplate: config.requests.defaultTemplate,
    });
    this.services = {
      store,
      nodes,
      roles,
      workflow,
      ves: new VeOperations({ store, nodes, now }),
      notifier,
      registry: COMMANDS,
      defaultTemplate: config.requests.defaultTemplate,
      roleSource: options.roleSource ?? 'from the config',
      now,
    };
    const settings = config.alerts;
    // The watcher binds component 'watcher' itself; binding it here too would double the key.
    this.watcher = createBotWatcher({ settings, store, nodes, notifier, logger, now });
    this.dispatcher = new Dispatcher({
      commands: COMMANDS,
      services: this.services,
      logger: logger.child({ component: 'dispatcher' }),
    });
  }

  /** Opens the store and the node links, finishes what a previous run left, starts adapters. */
  static async start(options: BotOptions): Promise<Bot> {
    const { config, logger } = options;
    const tls = await loadTlsMaterial(config.pki, 'bot');
    const lock = takeInstanceLock(config.database);
    let store: Store;
    try {
      store = Store.open(config.database);
    } catch (error) {
      lock.release();
      throw error;
    }
    const nodes = NodePool.connect(config.nodes, tls, logger, options.callTimeoutMs);
    const bot = new Bot(options, store, nodes);
    bot.lock = lock;

    await bot.tidy();
    for (const adapter of bot.adapters) {
      await adapter.start(bot.dispatcher.handle);
      logger.info({ adapter: adapter.name }, 'adapter started');
    }
    bot.timer = setInterval(() => {
      bot.housekeeping = bot.tidy();
    }, HOUSEKEEPING_MS);
    bot.timer.unref();
    // Last, so the first poll's alerts find the adapters started.
    bot.watcher?.start();
    return bot;
  }

  /** Expires stale requests and reconciles half-done ones; never throws. */
  private async tidy(): Promise<void> {
    try {
      this.services.workflow.expireStale();
      await this.provisioner.reconcile();
    } catch (error) {
      this.options.logger.error({ err: error }, 'housekeeping failed');
    }
  }

  private async send(adapterName: string, reply: Reply, destination: Destination) {
    const adapter = this.adapters.find((candidate) => candidate.name === adapterName);
    if (!adapter) {
      this.options.logger.debug({ adapter: adapterName }, 'no adapter for a notification');
      return;
    }
    try {
      await adapter.send(destination, reply);
    } catch (error) {
      this.options.logger.warn({ err: error, adapter: adapterName }, 'notification not sent');
    }
  }

  async stop(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.watcher?.stop();
    await Promise.all(this.adapters.map(async (adapter) => adapter.stop()));
    await this.housekeeping;
    await this.services.nodes.close();
    this.services.store.close();
    this.lock?.release();
    this.options.logger.info('bot stopped');
  }
}

function adaptersFromConfig(config: BotConfig, logger: Logger): ChatAdapter[] {
  const adapters: ChatAdapter[] = [];
  if (config.adapters.irc) {
    adapters.push(new IrcAdapter({ ...config.adapters.irc, logger }));
  }
  return adapters;
}
