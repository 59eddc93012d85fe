/**
 * Creates in flight, one marker file per VE in STATEDIR/creating, written (and synced) before
 * the first step and deleted when the create has answered, made or rolled back. A marker found
 * at start-up is a create the agent was killed in the middle of: a VE with no limits set, never
 * started, or host pieces without their VE. The agent undoes it before anyone may use that VE
 * (create-recovery.ts), so the bot's reconcile finds it absent and creates it again whole.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { namesIn, syncDirectory, writeFileAtomic } from './atomic-file.ts';

const MARKER_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

export class CreateJournal {
  constructor(readonly directory: string) {}

  async begin(ve: number): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: DIRECTORY_MODE });
    await writeFileAtomic(this.marker(ve), `${new Date().toISOString()}\n`, MARKER_MODE);
  }

  async end(ve: number): Promise<void> {
    await rm(this.marker(ve), { force: true });
    await syncDirectory(this.directory);
  }

  /** The VEs whose create never answered, oldest first by ID. */
  async interrupted(): Promise<number[]> {
    const names = await namesIn(this.directory);
    return names.filter((name) => /^[1-9]\d*$/.test(name)).map(Number).sort((a, b) => a - b);
  }

  private marker(ve: number): string {
    return path.join(this.directory, String(ve));
  }
}
