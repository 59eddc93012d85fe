/**
 * Everything `create ID TEMPLATE USERNAME` does on a node when `network` is configured, as steps
 * that roll back in reverse when a later one fails, and `remove ID` that undoes whatever the
 * VE's record says was made. The steps, in order:
 *   1. reserve an address and write the VE's record (the record is what makes the address taken)
 *   2. vzctl create + vzctl set --save (driver.create)
 *   3. the user's SSH key pair on the host
 *   4. the user and their public key inside the VE (driver.addUser)
 *   5. the login-forwarding shell file
 *   6. the host account whose shell it is; it gets the private key
 *   7. the `USERNAME ADDRESS` line in the Apache RewriteMap
 *   8. vzctl start
 */
import path from 'node:path';
import type { Logger } from 'pino';

import { entryExists } from '../atomic-file.ts';
import { DriverError, type Driver } from '../driver.ts';
import { AgentCode, type VeStatus } from '../protocol.ts';
import { AddressPool, infrastructureAddresses } from './addresses.ts';
import {
  authorizedKeysDirectory,
  hostView,
  underRoot,
  type ProvisionConfig,
} from './config.ts';
import { CreatedMaps } from './created-maps.ts';
import {
  DEFAULT_TOOLS,
  addHostAccount,
  removeHostAccount,
  type AccountTools,
} from './host-account.ts';
import { generateKeyPair, giveKeyPair, keyPaths, removeKeyPair, type KeyPaths } from './keys.ts';
import { removeLoginShell, writeLoginShell } from './login-shell.ts';
import { RecordStore, type ProvisionRecord } from './records.ts';
import { addMapEntry, removeMapEntry } from './rewrite-map.ts';
import { removeProvisioned, statusOrAbsent } from './remove.ts';
import { runSteps, type Step } from './steps.ts';

/**
 * What the provisioner needs from a driver: Driver's optional `addUser` is required here (both
 * the vzctl and the sim driver have it). It creates USERNAME inside a created, not yet started
 * VE and installs `publicKey` as its only authorized key.
 */
export interface ProvisionDriver
  extends Pick<Driver, 'list' | 'status' | 'create' | 'start' | 'stop' | 'remove'> {
  addUser(id: number, username: string, publicKey: string): Promise<void>;
  /**
   * Every address any VE on the node has, all of each VE's addresses and VEs that list() leaves
   * out (VZ7's UUID-named ones) included. Without it the ledger counts list()'s addresses.
   */
  addressesInUse?(): Promise<string[]>;
}

export interface ProvisionerOptions {
  config: ProvisionConfig;
  driver: ProvisionDriver;
  logger: Logger;
  tools?: Partial<AccountTools & { sshKeygen: string }>;
  /** The host's own IPv4 addresses; os.networkInterfaces() unless a test names them. */
  hostAddresses?: () => string[];
}

interface UserPaths {
  keys: KeyPaths;
  hostKeys: KeyPaths;
  shellFile: string;
  hostShell: string;
  mapFile: string;
}

export class Provisioner {
  readonly records: RecordStore;
  readonly pool: AddressPool;
  private readonly createdMaps: CreatedMaps;
  private readonly config: ProvisionConfig;
  private readonly driver: ProvisionDriver;
  private readonly logger: Logger;
  private readonly accountTools: AccountTools;
  private readonly sshKeygen: string;

  constructor(options: ProvisionerOptions) {
    this.config = options.config;
    this.driver = options.driver;
    this.logger = options.logger;
    this.accountTools = { ...DEFAULT_TOOLS, ...options.tools };
    this.sshKeygen = options.tools?.sshKeygen ?? 'ssh-keygen';
    this.records = new RecordStore(options.config.stateDir);
    this.createdMaps = new CreatedMaps(options.config.stateDir);

    // Stopped VEs are in the driver's view with all their saved addresses, so they keep them.
    // Interfaces are read at each allocation: an address added to the host later is still never
    // handed out.
    const { nameservers } = options.config.network;
    const hostAddresses = options.hostAddresses ?? (() => infrastructureAddresses([]));
    this.pool = new AddressPool(options.config.network.pool, [
      () => this.addressesInUse(),
      async () => (await this.records.list()).map((record) => record.address),
      async () => [...infrastructureAddresses(nameservers, {}), ...hostAddresses()],
    ]);
  }

  private async addressesInUse(): Promise<Array<string | null>> {
    if (this.driver.addressesInUse) {
      return this.driver.addressesInUse();
    }
    return (await this.driver.list()).map((ve) => ve.address);
  }

  private pathsFor(username: string): UserPaths {
    const { paths } = this.config;
    return {
      keys: keyPaths(underRoot(this.config, paths.keysDir), username),
      hostKeys: keyPaths(hostView(paths.keysDir), username),
      shellFile: path.join(underRoot(this.config, paths.shellsDir), username),
      hostShell: path.posix.join(hostView(paths.shellsDir), username),
      mapFile: underRoot(this.config, paths.mapFile),
    };
  }

  async create(id: number, template: string, username: string): Promise<VeStatus> {
    const logger = this.logger.child({ ve: id, username });
    const paths = this.pathsFor(username);
    const state = {
      address: '',
      publicKey: '',
      started: null as VeStatus | null,
      madeGroup: false,
    };

    const steps: Step[] = [
      {
        name: 'reserve address',
        do: async () => {
          state.address = await this.reserve(id, template, username, paths);
          logger.info({ address: state.address }, 'address reserved');
        },
        undo: () => this.records.delete(id),
      },
      {
        name: 'vzctl create',
        do: () => this.createVe(id, template, username, state.address),
        undo: () => this.driver.remove(id),
      },
      {
        name: 'ssh key pair',
        do: async () => {
          state.publicKey = await generateKeyPair(paths.keys, username, this.sshKeygen);
        },
        undo: () => removeKeyPair(paths.keys),
      },
      {
        name: 'VE user',
        do: () => this.driver.addUser(id, username, state.publicKey),
        // The user lives inside the VE: undoing "vzctl create" destroys it with the VE.
        undo: async () => undefined,
      },
      {
        name: 'login shell',
        do: () =>
          writeLoginShell(paths.shellFile, {
            username,
            address: state.address,
            privateKey: paths.hostKeys.privateKey,
            knownHosts: paths.hostKeys.knownHosts,
            ssh: this.config.paths.ssh,
          }),
        undo: () => removeLoginShell(paths.shellFile),
      },
      {
        name: 'host account',
        do: async () => {
          state.madeGroup = await this.addAccount(username, paths);
        },
        undo: () =>
          removeHostAccount(this.config.root, username, this.accountTools, state.madeGroup),
      },
      {
        name: 'map entry',
        do: () => addMapEntry(paths.mapFile, username, state.address, this.createdMaps),
        undo: () => removeMapEntry(paths.mapFile, username, state.address, this.createdMaps),
      },
      {
        name: 'vzctl start',
        do: async () => {
          state.started = await this.driver.start(id);
        },
        undo: async () => {
          await this.driver.stop(id);
        },
      },
    ];

    await runSteps(steps, logger);
    await this.markComplete(id, logger);
    logger.info({ address: state.address }, 'VE provisioned');
    return state.started ?? this.driver.status(id);
  }

  /** Picks an address and writes the record under the pool's lock, after the cheap checks. */
  private reserve(id: number, template: string, username: string, paths: UserPaths) {
    return this.pool.allocate(async (address) => {
      for (const other of await this.records.list()) {
        if (other.id === id) {
          throw new Error(`VE ${id} already has a provisioning record; remove ${id} first`);
        }
        if (other.username === username) {
          throw new Error(`${username} already owns VE ${other.id} on this node`);
        }
      }
      // A login key no record lists (left by hand, or by a lost record) would let its holder in
      // as the new owner until they send their own: refuse, as for the other files.
      const loginKey = path.join(authorizedKeysDirectory(this.config), username);
      if (await entryExists(loginKey)) {
        throw new Error(
          `${loginKey} already exists; remove the old owner's files before reusing ${username}`,
        );
      }

      const record: ProvisionRecord = {
        id,
        username,
        address,
        hostname: `${username}.${this.config.network.domain}`,
        template,
        files: [
          paths.keys.privateKey,
          paths.keys.publicKey,
          paths.keys.knownHosts,
          paths.shellFile,
        ],
        mapFile: paths.mapFile,
        root: this.config.root,
        createdAt: new Date().toISOString(),
        complete: false,
      };
      await this.records.write(record);
      return address;
    });
  }

  /**
   * The VE must not exist beforehand: then anything there after a failed create is ours to
   * destroy, and an existing VE is never touched.
   */
  private async createVe(id: number, template: string, username: string, address: string) {
    const before = await statusOrAbsent(this.driver, id);
    if (before.state !== 'absent') {
      throw new DriverError(AgentCode.STEP_FAILED, [`VE ${id} already exists; pick another ID`]);
    }

    const { network, limits } = this.config;
    try {
      await this.driver.create({
        id,
        template,
        hostname: `${username}.${network.domain}`,
        address,
        nameservers: network.nameservers,
        searchdomain: network.searchdomain,
        limits,
      });
    } catch (error) {
      // vzctl create may have succeeded before vzctl set failed: leave no half-made VE.
      const after = await statusOrAbsent(this.driver, id).catch(() => null);
      if (after !== null && after.state !== 'absent') {
        await this.driver.remove(id);
      }
      throw error;
    }
  }

  /** Makes the host account and hands it the keys; says whether it made the crewvz group. */
  private async addAccount(username: string, paths: UserPaths): Promise<boolean> {
    const { root } = this.config;
    const account = await addHostAccount(root, username, paths.hostShell, this.accountTools);

    try {
      await giveKeyPair(paths.keys, account.uid, account.gid);
    } catch (error) {
      await removeHostAccount(root, username, this.accountTools, account.madeGroup);
      throw error;
    }
    return account.madeGroup;
  }

  private async markComplete(id: number, logger: Logger): Promise<void> {
    const record = await this.records.read(id);
    if (record === null) {
      return;
    }
    try {
      await this.records.write({ ...record, complete: true });
    } catch (error) {
      // The VE is fine; an incomplete record only means remove checks every piece anyway.
      logger.warn({ err: error }, 'could not mark the provisioning record complete');
    }
  }

  /** Undoes everything the VE's record lists; see removeProvisioned. */
  remove(id: number): Promise<void> {
    return removeProvisioned(id, {
      driver: this.driver,
      records: this.records,
      createdMaps: this.createdMaps,
      accountTools: this.accountTools,
      logger: this.logger.child({ ve: id }),
    });
  }
}
