/**
 * The RewriteMap files this agent created (none was there when it added the first line), kept in
 * `<stateDir>/created-maps.json`. When the last line comes out of such a file it is deleted, so a
 * rolled-back or removed first create leaves the node as it was; a map the admin made stays,
 * empty or not. The ledger is per node, not per VE: the create that made the file may be removed
 * long before the last one that used it.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { readOwnFile, writeFileAtomic } from '../atomic-file.ts';
import { KeyedMutex } from '../mutex.ts';

const LEDGER_NAME = 'created-maps.json';
const LEDGER_MODE = 0o600;

/** Changes of one ledger file queue behind each other, whichever instance makes them. */
const locks = new KeyedMutex();

export class CreatedMaps {
  readonly file: string;

  constructor(private readonly stateDir: string) {
    this.file = path.resolve(stateDir, LEDGER_NAME);
  }

  private async read(): Promise<string[]> {
    let text: string;
    try {
      ({ text } = await readOwnFile(this.file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw error;
    }

    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
      throw new Error(`${this.file} is damaged; it must be a JSON list of map file paths`);
    }
    return value as string[];
  }

  /** An empty ledger is no file at all, so a node that never made a map has nothing here. */
  private async write(files: string[]): Promise<void> {
    if (files.length === 0) {
      await rm(this.file, { force: true });
      return;
    }
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, `${JSON.stringify(files, null, 2)}\n`, LEDGER_MODE);
  }

  async has(mapFile: string): Promise<boolean> {
    return (await this.read()).includes(path.resolve(mapFile));
  }

  async add(mapFile: string): Promise<void> {
    await locks.run(this.file, async () => {
      const files = await this.read();
      if (!files.includes(path.resolve(mapFile))) {
        await this.write([...files, path.resolve(mapFile)]);
      }
    });
  }

  async delete(mapFile: string): Promise<void> {
    await locks.run(this.file, async () => {
      const files = await this.read();
      if (files.includes(path.resolve(mapFile))) {
        await this.write(files.filter((file) => file !== path.resolve(mapFile)));
      }
    });
  }
}
