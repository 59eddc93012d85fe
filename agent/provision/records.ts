/**
 * What the agent made for each provisioned VE, one JSON file per VE under
 * `<stateDir>/provisioned/ID.json`, so `remove ID` can undo all of it even after a restart or a
 * config change. The record is written before anything else is made and deleted after
 * everything is gone, so a crash in between leaves a record that `remove` can finish from.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { namesIn, readOwnFile, writeFileAtomic } from '../atomic-file.ts';

export interface ProvisionRecord {
  id: number;
  username: string;
  address: string;
  hostname: string;
  template: string;
  /**
   * Absolute host paths made for this VE: key pair, known_hosts, login shell, and the
   * student's authorized_keys file once `authorize` has written it.
   */
  files: string[];
  /** The RewriteMap file holding the `USERNAME ADDRESS` line. */
  mapFile: string;
  /** The root whose etc/passwd holds the host account. */
  root: string;
  createdAt: string;
  /** False until every step of the create has run. */
  complete: boolean;
}

const RECORD_NAME = /^(\d+)\.json$/;

/** Records hold no secrets (the private key stays in its own file), but stay root-only anyway. */
const RECORD_MODE = 0o600;

export class RecordStore {
  readonly directory: string;

  constructor(stateDir: string) {
    this.directory = path.join(stateDir, 'provisioned');
  }

  private file(id: number): string {
    return path.join(this.directory, `${id}.json`);
  }

  async write(record: ProvisionRecord): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const text = `${JSON.stringify(record, null, 2)}\n`;
    await writeFileAtomic(this.file(record.id), text, RECORD_MODE);
  }

  async read(id: number): Promise<ProvisionRecord | null> {
    let text: string;

    try {
      ({ text } = await readOwnFile(this.file(id)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return null;
      }
      throw error;
    }
    return parseRecord(text, this.file(id));
  }

  async list(): Promise<ProvisionRecord[]> {
    const names = await namesIn(this.directory);

    const records: ProvisionRecord[] = [];
    for (const name of names.filter((entry) => RECORD_NAME.test(entry)).sort()) {
      const record = await this.read(Number(RECORD_NAME.exec(name)?.[1]));
      if (record !== null) {
        records.push(record);
      }
    }
    return records;
  }

  /** Adds `file` to the record's files (when it is not there yet), so remove deletes it. */
  async addFile(record: ProvisionRecord, file: string): Promise<ProvisionRecord> {
    if (record.files.includes(file)) {
      return record;
    }
    const updated = { ...record, files: [...record.files, file] };
    await this.write(updated);
    return updated;
  }

  async delete(id: number): Promise<void> {
    await rm(this.file(id), { force: true });
  }
}

function parseRecord(text: string, file: string): ProvisionRecord {
  const value = JSON.parse(text) as Partial<ProvisionRecord>;
  const fine =
    typeof value.id === 'number' &&
    typeof value.username === 'string' &&
    typeof value.address === 'string' &&
    Array.isArray(value.files) &&
    value.files.every((entry) => typeof entry === 'string') &&
    typeof value.mapFile === 'string' &&
    typeof value.root === 'string';

  if (!fine) {
    throw new Error(`provisioning record ${file} is damaged; fix or move it, then retry`);
  }
  return value as ProvisionRecord;
}
