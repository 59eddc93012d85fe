/**
 * The real driver: runs the node's vzctl and vzlist through run.ts (argument arrays, a timeout
 * per call, a clean environment) and reads the kernel's beancounters file. A failing program
 * becomes DriverError(its exit status, its stderr lines), so the bot can look the status up.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BeancounterParseError, parseBeancounters } from './beancounters.ts';
import { DriverError, type CreateSpec, type Driver, type StopStatus } from './driver.ts';
import { AgentCode, type UbcRow, type VeStatus } from './protocol.ts';
import {
  CREATE_TIMEOUT_MS,
  QUERY_TIMEOUT_MS,
  START_TIMEOUT_MS,
  STOP_TIMEOUT_MS,
  outputLines,
  run,
  type RunResult,
} from './run.ts';
import { listTemplates } from './templates.ts';
import { addVeUser } from './ve-user.ts';
import { parseVzlist, veRootOf, vzlistAddresses } from './vzlist.ts';

/** vzctl's status for a mounted VE: destroy refuses one ("umount first"). */
const VZ_FS_MOUNTED = 41;

export interface VzctlOptions {
  vzctl: string;
  vzlist: string;
  beancounters: string;
  templatesDir: string;
  /** useradd for addUser (`useradd --root VE_ROOT`); found on the clean PATH by default. */
  useradd?: string;
  logger: Logger;
  /** Added to the programs' clean environment (tests pass FAKE_VZ_* and a PATH with node). */
  env?: Readonly<Record<string, string>>;
  /** Per-call limits; the defaults suit real vzctl (stop may take 120 s). */
  timeouts?: Partial<VzctlTimeouts>;
  now?: () => Date;
}

export interface VzctlTimeouts {
  queryMs: number;
  stopMs: number;
  startMs: number;
  createMs: number;
}

/** A Driver that can provision: its addUser is always there. */
export type ProvisioningDriver = Driver & { addUser: NonNullable<Driver['addUser']> };

export function createVzctlDriver(options: VzctlOptions): ProvisioningDriver {
  return new VzctlDriver(options);
}

class VzctlDriver implements Driver {
  readonly name = 'vzctl';
  private readonly logger: Logger;
  private readonly timeouts: VzctlTimeouts;
  private readonly now: () => Date;

  constructor(private readonly options: VzctlOptions) {
    this.logger = options.logger.child({ driver: 'vzctl' });
    this.timeouts = {
      queryMs: QUERY_TIMEOUT_MS,
      stopMs: STOP_TIMEOUT_MS,
      startMs: START_TIMEOUT_MS,
      createMs: CREATE_TIMEOUT_MS,
      ...options.timeouts,
    };
    this.now = options.now ?? (() => new Date());
  }

  async list(): Promise<VeStatus[]> {
    const result = await this.call(this.options.vzlist, ['-a', '-j'], this.timeouts.queryMs);
    return parseVzlist(result.stdout, this.now());
  }

  /** Every address of every VE, UUID-named ones included (the provisioning ledger's view). */
  async addressesInUse(): Promise<string[]> {
    const result = await this.call(this.options.vzlist, ['-a', '-j'], this.timeouts.queryMs);
    return vzlistAddresses(result.stdout);
  }

  async status(id: number): Promise<VeStatus> {
    const found = (await this.list()).find((ve) => ve.id === id);
    return found ?? { id, state: 'absent', address: null, hostname: null, startedAt: null };
  }

  async create(spec: CreateSpec): Promise<VeStatus> {
    const create = ['create', String(spec.id), '--ostemplate', spec.template];
    if (spec.address) {
      create.push('--ipadd', spec.address);
    }
    if (spec.hostname) {
      create.push('--hostname', spec.hostname);
    }
    await this.vzctl(create, this.timeouts.createMs);

    // --nameserver and --searchdomain replace earlier values, so everything goes in one set.
    const set: string[] = [];
    for (const nameserver of spec.nameservers) {
      set.push('--nameserver', nameserver);
    }
    if (spec.searchdomain) {
      set.push('--searchdomain', spec.searchdomain);
    }
    for (const [resource, value] of Object.entries(spec.limits)) {
      set.push(`--${resource}`, value);
    }
    if (set.length > 0) {
      try {
        await this.vzctl(['set', String(spec.id), ...set, '--save'], this.timeouts.queryMs);
      } catch (error) {
        await this.undoCreate(spec.id);
        throw error;
      }
    }
    return this.status(spec.id);
  }

  async start(id: number): Promise<VeStatus> {
    await this.vzctl(['start', String(id)], this.timeouts.startMs);
    return this.status(id);
  }

  /**
   * vzctl answers 0 for a VE that is already stopped, saying so on stderr; those words go back
   * with the status.
   */
  async stop(id: number): Promise<StopStatus> {
    const result = await this.vzctl(['stop', String(id)], this.timeouts.stopMs);
    const notes = outputLines(result.stderr);
    const status = await this.status(id);
    return notes.length > 0 ? { ...status, notes } : status;
  }

  /** One vzctl call that stops (up to 120 s) and then starts, so it gets both limits. */
  async restart(id: number): Promise<VeStatus> {
    const { stopMs, startMs } = this.timeouts;
    await this.vzctl(['restart', String(id)], stopMs + startMs);
    return this.status(id);
  }

  /**
   * vzctl destroy refuses a running VE (32), so remove stops it first; and a mounted one (41),
   * which an agent killed during addUser leaves behind, so it unmounts that and tries again.
   */
  async remove(id: number): Promise<void> {
    await this.vzctl(['stop', String(id)], this.timeouts.stopMs);
    try {
      await this.vzctl(['destroy', String(id)], this.timeouts.stopMs);
    } catch (error) {
      if (!(error instanceof DriverError) || error.code !== VZ_FS_MOUNTED) {
        throw error;
      }
      await this.vzctl(['umount', String(id)], this.timeouts.queryMs);
      await this.vzctl(['destroy', String(id)], this.timeouts.stopMs);
    }
  }

  /** See ve-user.ts: mount, useradd --root, authorized_keys, umount (also on failure). */
  async addUser(id: number, username: string, publicKey: string): Promise<void> {
    await addVeUser(
      {
        vzctl: async (args) => {
          await this.vzctl(args, this.timeouts.queryMs);
        },
        veRoot: (veId) => this.veRoot(veId),
        useradd: this.options.useradd ?? 'useradd',
        ...(this.options.env ? { env: this.options.env } : {}),
        logger: this.logger,
      },
      id,
      username,
      publicKey,
    );
  }

  /** The root vzlist names for the VE, else vzctl's default VE_ROOT. */
  private async veRoot(id: number): Promise<string> {
    const result = await this.call(this.options.vzlist, ['-a', '-j'], this.timeouts.queryMs);
    return veRootOf(result.stdout, id) ?? `/vz/root/${id}`;
  }

  async ubc(id?: number): Promise<UbcRow[]> {
    const file = this.options.beancounters;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = code === 'EACCES' ? '; the agent must run as root to read it' : '';
      throw new DriverError(AgentCode.INTERNAL, [`cannot read ${file}: ${code ?? error}${hint}`]);
    }
    let rows: UbcRow[];
    try {
      rows = parseBeancounters(text);
    } catch (error) {
      if (error instanceof BeancounterParseError) {
        throw new DriverError(AgentCode.INTERNAL, [`${file}: ${error.message}`]);
      }
      throw error;
    }
    return id === undefined ? rows : rows.filter((row) => row.ve === String(id));
  }

  async set(id: number, resource: string, barrier: string, limit?: string): Promise<void> {
    const value = limit === undefined ? barrier : `${barrier}:${limit}`;
    await this.vzctl(['set', String(id), `--${resource}`, value, '--save'], this.timeouts.queryMs);
  }

  async templates(): Promise<string[]> {
    return listTemplates(this.options.templatesDir);
  }

  async close(): Promise<void> {
    // Nothing to release: every program run has its own timeout.
  }

  private async vzctl(args: string[], timeoutMs: number): Promise<RunResult> {
    return this.call(this.options.vzctl, args, timeoutMs);
  }

  /** Runs a program; a non-zero status becomes DriverError(status, stderr lines). */
  private async call(program: string, args: string[], timeoutMs: number): Promise<RunResult> {
    const started = Date.now();
    const result = await run(program, args, {
      timeoutMs,
      ...(this.options.env ? { env: this.options.env } : {}),
    });
    const fields = {
      program: path.basename(program),
      action: args[0],
      ve: args[1],
      code: result.code,
      ms: Date.now() - started,
    };

    if (result.code !== 0) {
      this.logger.warn(fields, 'program failed');
      const lines = outputLines(result.stderr);
      const fallback = outputLines(result.stdout);
      throw new DriverError(
        result.code,
        lines.length > 0 ? lines : fallback.length > 0 ? fallback : [`${fields.program} failed`],
      );
    }
    const notes = outputLines(result.stderr);
    this.logger.debug({ ...fields, ...(notes.length > 0 ? { notes } : {}) }, 'program ran');
    return result;
  }

  /** A VE whose settings could not be saved is destroyed again, so create is all or nothing. */
  private async undoCreate(id: number): Promise<void> {
    try {
      await this.vzctl(['destroy', String(id)], this.timeouts.stopMs);
    } catch (error) {
      this.logger.error({ ve: id, err: error }, 'could not destroy a half-created VE');
    }
  }
}
