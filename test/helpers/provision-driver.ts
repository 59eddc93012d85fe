/**
 * An in-memory provisioning driver for the step-by-step rollback tests, where each operation
 * must fail on demand: it answers with vzctl's exit statuses (14 no such VE, 32 already running,
 * 44 private area exists, 91 template not found), and `fail` makes one operation fail the way
 * vzctl would. The real drivers' addUser are tested in vzctl-adduser and provision-agent.
 */
import { DriverError, type CreateSpec } from '../../agent/driver.ts';
import type { VeStatus } from '../../agent/protocol.ts';
import type { ProvisionDriver } from '../../agent/provision/provisioner.ts';

interface FakeVe {
  spec: CreateSpec;
  running: boolean;
  users: Map<string, string>;
}

export type FakeOperation = 'create' | 'addUser' | 'start' | 'stop' | 'remove';

export class FakeProvisionDriver implements ProvisionDriver {
  readonly ves = new Map<number, FakeVe>();
  readonly templates = new Set(['debian-12-x86_64.tar.gz']);
  /** Operations that fail on their next call, with vzctl's status 3 (generic error). */
  readonly fail = new Set<FakeOperation>();

  private failIfAsked(operation: FakeOperation): void {
    if (this.fail.delete(operation)) {
      throw new DriverError(3, [`injected ${operation} failure`]);
    }
  }

  private statusOf(id: number): VeStatus {
    const ve = this.ves.get(id);
    if (ve === undefined) {
      return { id, state: 'absent', address: null, hostname: null, startedAt: null };
    }
    return {
      id,
      state: ve.running ? 'running' : 'stopped',
      address: ve.spec.address,
      hostname: ve.spec.hostname,
      startedAt: ve.running ? new Date(0).toISOString() : null,
    };
  }

  private existing(id: number): FakeVe {
    const ve = this.ves.get(id);
    if (ve === undefined) {
      throw new DriverError(14, [`Container config file does not exist: ${id}`]);
    }
    return ve;
  }

  async list(): Promise<VeStatus[]> {
    return [...this.ves.keys()].map((id) => this.statusOf(id));
  }

  async status(id: number): Promise<VeStatus> {
    return this.statusOf(id);
  }

  async create(spec: CreateSpec): Promise<VeStatus> {
    if (this.ves.has(spec.id)) {
      throw new DriverError(44, [`Private area already exists in /vz/private/${spec.id}`]);
    }
    if (!this.templates.has(spec.template)) {
      throw new DriverError(91, [`Cached OS template ${spec.template} not found`]);
    }
    this.ves.set(spec.id, { spec, running: false, users: new Map() });

    // Like vzctl set failing after vzctl create worked: the VE exists when the error comes.
    this.failIfAsked('create');
    return this.statusOf(spec.id);
  }

  async addUser(id: number, username: string, publicKey: string): Promise<void> {
    const ve = this.existing(id);
    this.failIfAsked('addUser');
    ve.users.set(username, publicKey);
  }

  async start(id: number): Promise<VeStatus> {
    const ve = this.existing(id);
    if (ve.running) {
      throw new DriverError(32, ['Container is already running']);
    }
    this.failIfAsked('start');
    ve.running = true;
    return this.statusOf(id);
  }

  async stop(id: number): Promise<VeStatus> {
    const ve = this.existing(id);
    if (!ve.running) {
      throw new DriverError(31, ['Unable to stop: container is not running']);
    }
    this.failIfAsked('stop');
    ve.running = false;
    return this.statusOf(id);
  }

  /** As both real drivers do: a running VE is stopped first, then destroyed. */
  async remove(id: number): Promise<void> {
    const ve = this.existing(id);
    if (ve.running) {
      await this.stop(id);
    }
    this.failIfAsked('remove');
    this.ves.delete(id);
  }
}
