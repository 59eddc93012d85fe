/**
 * The simulated driver: a node without an OpenVZ kernel (the demo, tests) that answers as vzctl
 * would, with vzctl's exit codes and messages. VEs live in a JSON file in the state directory;
 * beancounters live in a file in the kernel's own format, rewritten by a simulated load and read
 * back from disk on every `ubc`, so whatever is in that file is what the agent reports.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { parseBeancounters, type BeancounterBlock } from './beancounters.ts';
import { DriverError, type CreateSpec, type Driver, type StopStatus } from './driver.ts';
import { Mutex } from './mutex.ts';
import type { UbcRow, VeStatus } from './protocol.ts';
import {
  blockFor,
  blocksFromState,
  inBeancountersFile,
  loadStep,
  newBlock,
  rowFor,
  startCounters,
  zeroCounters,
  type Random,
} from './sim-load.ts';
import {
  STATE_FILE,
  absent,
  limitOrThrow,
  limitsOrThrow,
  loadSimState,
  saveSimState,
  statusOf,
  type SimState,
  type SimVe,
} from './sim-state.ts';
import { ensureSimTemplates } from './sim-templates.ts';
import { SimUbcFile } from './sim-ubc-file.ts';
import { listTemplates } from './templates.ts';

export interface SimOptions {
  stateDir: string;
  templatesDir: string;
  /** Defaults to `<stateDir>/user_beancounters`. */
  beancountersFile?: string;
  /** How often the simulated load rewrites the beancounters; 0 turns the load off. */
  loadIntervalMs?: number;
  logger: Logger;
  now?: () => Date;
  /** The load's dice; tests pass a seeded one. */
  random?: Random;
}

export const DEFAULT_LOAD_INTERVAL_MS = 5000;

/** vzctl's words for each outcome the sim reproduces (facts file §2.6). */
const NOT_RUNNING_MESSAGE = 'Unable to stop: container is not running';
const VZ_NOCONFIG = 14;
const VZ_VE_RUNNING = 32;
const VZ_FS_PRVT_EXISTS = 44;
const VZ_TEMPLATE_NOT_FOUND = 91;

export async function createSimDriver(options: SimOptions): Promise<Driver> {
  const state = await loadSimState(path.join(options.stateDir, STATE_FILE));
  const written = await ensureSimTemplates(options.templatesDir);
  const driver = new SimDriver(options, state);

  if (written.length > 0) {
    options.logger.info({ templates: written, dir: options.templatesDir }, 'wrote sim templates');
  }
  await driver.init();
  return driver;
}

class SimDriver implements Driver {
  readonly name = 'sim';
  private readonly logger: Logger;
  private readonly stateFile: string;
  private readonly ubcFile: SimUbcFile;
  private readonly now: () => Date;
  private readonly random: Random;
  private readonly quietTicks = new Map<string, number>();
  /** One change of state or beancounters at a time, in the order asked. */
  private readonly lock = new Mutex();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: SimOptions,
    private readonly state: SimState,
  ) {
    this.logger = options.logger.child({ driver: 'sim' });
    this.stateFile = path.join(options.stateDir, STATE_FILE);
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.ubcFile = new SimUbcFile(
      options.beancountersFile ?? path.join(options.stateDir, 'user_beancounters'),
      () => blocksFromState(Object.values(state.ves), this.random),
    );
  }

  async init(): Promise<void> {
    try {
      await this.lock.run(async () => this.ubcFile.write(await this.ubcFile.readBlocks()));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`${this.ubcFile.file}: ${reason}; fix the file or remove it to start afresh`);
    }
    const interval = this.options.loadIntervalMs ?? DEFAULT_LOAD_INTERVAL_MS;

    if (interval > 0) {
      this.timer = setInterval(() => void this.loadTick(), interval);
      this.timer.unref();
    }
  }

  async list(): Promise<VeStatus[]> {
    return Object.values(this.state.ves)
      .sort((a, b) => a.id - b.id)
      .map(statusOf);
  }

  async status(id: number): Promise<VeStatus> {
    const ve = this.state.ves[id];
    return ve ? statusOf(ve) : absent(id);
  }

  async create(spec: CreateSpec): Promise<VeStatus> {
    return this.lock.run(async () => {
      if (this.state.ves[spec.id]) {
        throw new DriverError(VZ_FS_PRVT_EXISTS, [
          `Private area already exists in /vz/private/${spec.id}`,
        ]);
      }
      if (!(await listTemplates(this.options.templatesDir)).includes(spec.template)) {
        const tarball = path.join(this.options.templatesDir, `${spec.template}.tar.gz`);
        throw new DriverError(VZ_TEMPLATE_NOT_FOUND, [`Cached OS template ${tarball} not found`]);
      }
      const ve: SimVe = {
        id: spec.id,
        state: 'stopped',
        template: spec.template,
        address: spec.address,
        hostname: spec.hostname,
        nameservers: [...spec.nameservers],
        searchdomain: spec.searchdomain,
        startedAt: null,
        createdAt: this.now().toISOString(),
        limits: limitsOrThrow(spec.limits),
      };
      const blocks = await this.ubcFile.readBlocks();
      blocks.push(newBlock(String(spec.id), ve.limits));

      this.state.ves[spec.id] = ve;
      await this.save(blocks);
      this.logger.info({ ve: spec.id, template: spec.template }, 'sim VE created');
      return statusOf(ve);
    });
  }

  async start(id: number): Promise<VeStatus> {
    return this.lock.run(async () => {
      const ve = this.existing(id);
      if (ve.state === 'running') {
        throw new DriverError(VZ_VE_RUNNING, ['Container is already running']);
      }
      await this.boot(ve);
      return statusOf(ve);
    });
  }

  async stop(id: number): Promise<StopStatus> {
    return this.lock.run(async () => {
      const ve = this.existing(id);
      if (ve.state !== 'running') {
        return { ...statusOf(ve), notes: [NOT_RUNNING_MESSAGE] };
      }
      await this.halt(ve);
      return statusOf(ve);
    });
  }

  async restart(id: number): Promise<VeStatus> {
    return this.lock.run(async () => {
      const ve = this.existing(id);
      if (ve.state === 'running') {
        await this.halt(ve);
      }
      await this.boot(ve);
      return statusOf(ve);
    });
  }

  async remove(id: number): Promise<void> {
    await this.lock.run(async () => {
      const ve = this.existing(id);

      // vzctl destroy refuses a running VE (32, "Stop it first."), so remove stops it first.
      if (ve.state === 'running') {
        await this.halt(ve);
      }
      const blocks = (await this.ubcFile.readBlocks()).filter((block) => block.id !== String(id));
      delete this.state.ves[id];
      this.quietTicks.delete(String(id));
      await this.save(blocks);
      this.logger.info({ ve: id }, 'sim VE destroyed');
    });
  }

  async ubc(id?: number): Promise<UbcRow[]> {
    const rows = parseBeancounters(await this.ubcFile.readText());
    return id === undefined ? rows : rows.filter((row) => row.ve === String(id));
  }

  async set(id: number, resource: string, barrier: string, limit?: string): Promise<void> {
    await this.lock.run(async () => {
      const ve = this.existing(id);
      const value = limitOrThrow(resource, limit === undefined ? barrier : `${barrier}:${limit}`);
      ve.limits[resource] = value;
      if (!inBeancountersFile(resource)) {
        // swappages lives in the VE's config (vzlist, /proc/bc/ID/resources), not in the file.
        await saveSimState(this.stateFile, this.state);
        return;
      }

      const blocks = await this.ubcFile.readBlocks();
      const row = rowFor(blockFor(blocks, ve), resource);
      row.barrier = BigInt(value.barrier);
      row.limit = BigInt(value.limit);
      await this.save(blocks);
    });
  }

  async templates(): Promise<string[]> {
    return listTemplates(this.options.templatesDir);
  }

  /** Like useradd + authorized_keys in the VE's private area: the VE need not be running. */
  async addUser(id: number, username: string, publicKey: string): Promise<void> {
    await this.lock.run(async () => {
      const ve = this.existing(id);
      ve.users = { ...ve.users, [username]: publicKey };
      await saveSimState(this.stateFile, this.state);
    });
  }

  async close(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    // Waits for the changes already queued.
    await this.lock.run(async () => undefined);
  }

  private existing(id: number): SimVe {
    const ve = this.state.ves[id];
    if (!ve) {
      throw new DriverError(VZ_NOCONFIG, ['Container config file does not exist']);
    }
    return ve;
  }

  private async boot(ve: SimVe): Promise<void> {
    const blocks = await this.ubcFile.readBlocks();
    startCounters(blockFor(blocks, ve), this.random);
    ve.state = 'running';
    ve.startedAt = this.now().toISOString();
    this.quietTicks.set(String(ve.id), 0);
    await this.save(blocks);
  }

  /** A stopped VE holds nothing; its counters start again from zero, as on the kernel. */
  private async halt(ve: SimVe): Promise<void> {
    const blocks = await this.ubcFile.readBlocks();
    zeroCounters(blockFor(blocks, ve));
    ve.state = 'stopped';
    ve.startedAt = null;
    await this.save(blocks);
  }

  private async loadTick(): Promise<void> {
    try {
      await this.lock.run(async () => {
        const blocks = await this.ubcFile.readBlocks();
        loadStep(blocks, Object.values(this.state.ves), this.random, this.quietTicks);
        await this.ubcFile.write(blocks);
      });
    } catch (error) {
      const fields = { err: error, file: this.ubcFile.file };
      this.logger.warn(fields, 'sim load could not update beancounters');
    }
  }

  private async save(blocks: BeancounterBlock[]): Promise<void> {
    await saveSimState(this.stateFile, this.state);
    await this.ubcFile.write(blocks);
  }
}
