/**
 * The sim's beancounters file, kept in the kernel's format. Whatever is on disk is the truth:
 * tests and demos may rewrite it by hand, and the sim reads it again every time.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import {
  formatBeancounters,
  parseBeancounterBlocks,
  type BeancounterBlock,
} from './beancounters.ts';

export class SimUbcFile {
  /** `rebuild` gives the blocks a freshly booted node would show, for a missing file. */
  constructor(
    readonly file: string,
    private readonly rebuild: () => BeancounterBlock[],
  ) {}

  /** The file's text; a missing file reads as the rebuilt one (the next write creates it). */
  async readText(): Promise<string> {
    const text = await this.readIfPresent();
    return text ?? formatBeancounters(this.rebuild());
  }

  async readBlocks(): Promise<BeancounterBlock[]> {
    const text = await this.readIfPresent();
    return text === null ? this.rebuild() : parseBeancounterBlocks(text);
  }

  async write(blocks: readonly BeancounterBlock[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, formatBeancounters(blocks));
  }

  private async readIfPresent(): Promise<string | null> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return null;
      }
      throw error;
    }
  }
}
