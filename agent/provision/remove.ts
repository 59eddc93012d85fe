/**
 * `remove ID` with provisioning: stop and destroy the VE, then take away every host piece its
 * record lists. Pieces already gone count as removed, so a remove that failed halfway can be run
 * again; the record is deleted last, only when everything is gone, so it is never lost while
 * something of the old owner survives.
 */
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';

import { DriverError, type Driver } from '../driver.ts';
import { AgentCode, type VeStatus } from '../protocol.ts';
import type { CreatedMaps } from './created-maps.ts';
import { removeHostAccount, type AccountTools } from './host-account.ts';
import type { RecordStore } from './records.ts';
import { removeMapEntry } from './rewrite-map.ts';

/** vzctl's exit status for a VE with no config; a driver may report absence this way. */
const VZ_NO_SUCH_VE = 14;

export async function statusOrAbsent(
  driver: Pick<Driver, 'status'>,
  id: number,
): Promise<VeStatus> {
  try {
    return await driver.status(id);
  } catch (error) {
    if (error instanceof DriverError && error.code === VZ_NO_SUCH_VE) {
      return { id, state: 'absent', address: null, hostname: null, startedAt: null };
    }
    throw error;
  }
}

export interface RemoveContext {
  driver: Pick<Driver, 'status' | 'remove'>;
  records: RecordStore;
  /** Map files the agent made: the last removal deletes them again. */
  createdMaps?: CreatedMaps;
  accountTools: AccountTools;
  logger: Logger;
}

/**
 * A failure here is vzctl's and is answered as such; no host piece is touched before it. The
 * driver's remove stops a running VE itself: a stop here too would run `vzctl stop` twice and
 * could take the remove past its answer limit.
 */
async function destroyVe(driver: RemoveContext['driver'], id: number): Promise<void> {
  const status = await statusOrAbsent(driver, id);

  if (status.state !== 'absent') {
    await driver.remove(id);
  }
}

export async function removeProvisioned(id: number, context: RemoveContext): Promise<void> {
  const { logger } = context;
  const record = await context.records.read(id);

  await destroyVe(context.driver, id);
  if (record === null) {
    logger.info('VE removed (no provisioning record)');
    return;
  }

  const failures: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      logger.error({ step: what, err: error }, 'remove step failed');
      failures.push(`${what}: ${(error as Error).message}`);
    }
  };

  const { username, address } = record;
  await attempt('map entry', () =>
    removeMapEntry(record.mapFile, username, address, context.createdMaps),
  );
  await attempt('host account', () =>
    removeHostAccount(record.root, username, context.accountTools),
  );
  for (const file of record.files) {
    await attempt(`file ${file}`, () => rm(file, { force: true }));
  }

  if (failures.length > 0) {
    throw new DriverError(AgentCode.STEP_FAILED, [
      `VE ${id} is destroyed but some of ${username}'s host pieces are left`,
      ...failures,
      `run remove ${id} again once fixed`,
    ]);
  }
  await context.records.delete(id);
  logger.info({ username, address }, 'VE and its pieces removed');
}
