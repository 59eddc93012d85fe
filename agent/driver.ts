import type { UbcRow, VeStatus } from './protocol.ts';

/** Everything `vzctl create` and the `vzctl set --save` after it need; the VE is not started. */
export interface CreateSpec {
  id: number;
  template: string;
  hostname: string;
  /** The VE's private address; null leaves the network unconfigured. */
  address: string | null;
  nameservers: string[];
  searchdomain: string | null;
  /** Beancounter defaults to save with the VE: resource name → `barrier[:limit]`. */
  limits: Record<string, string>;
}

/**
 * What `stop` leaves: the VE's status, and the lines vzctl printed though it succeeded. For a VE
 * that was already stopped that is vzctl's "Unable to stop: container is not running".
 */
export interface StopStatus extends VeStatus {
  notes?: string[];
}

/**
 * What the agent asks of a node: the real vzctl driver or the simulated one. Arguments reach a
 * driver already validated, and never two operations on one VE at once.
 */
export interface Driver {
  readonly name: 'vzctl' | 'sim';
  list(): Promise<VeStatus[]>;
  status(id: number): Promise<VeStatus>;
  create(spec: CreateSpec): Promise<VeStatus>;
  start(id: number): Promise<VeStatus>;
  stop(id: number): Promise<StopStatus>;
  restart(id: number): Promise<VeStatus>;
  /** Stops the VE if it runs, then destroys it: callers need no stop of their own. */
  remove(id: number): Promise<void>;
  ubc(id?: number): Promise<UbcRow[]>;
  set(id: number, resource: string, barrier: string, limit?: string): Promise<void>;
  templates(): Promise<string[]>;
  /**
   * Provisioning: creates USERNAME inside a created, not yet started VE and installs `publicKey`
   * as its only authorized SSH key. Optional: an agent without it cannot provision.
   */
  addUser?(id: number, username: string, publicKey: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A failed operation. `code` is vzctl's exit status (or an AgentCode), `lines` what the program
 * printed on stderr or what the agent has to say; both reach the bot unchanged.
 */
export class DriverError extends Error {
  constructor(
    readonly code: number,
    readonly lines: string[],
  ) {
    super(lines.join('; ') || `exit status ${code}`);
    this.name = 'DriverError';
  }
}
