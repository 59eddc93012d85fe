/**
 * One bot per database. Two bots on one file would both poll, reconcile and expire, so every
 * alert and every recovered create would happen twice. The lock is SQLite's own exclusive lock
 * on a small file beside the database, held for the life of the process: the kernel drops it
 * when the process dies, even by kill -9, so a crash never leaves a stale lock to clean up.
 */
import Database from 'better-sqlite3';

import { CrewvzError } from '../errors.ts';

export interface InstanceLock {
  readonly file: string;
  release(): void;
}

export function lockFileFor(database: string): string {
  return `${database}.lock`;
}

/** Takes the lock or throws, saying what to do; ':memory:' databases need none. */
export function takeInstanceLock(database: string): InstanceLock {
  const file = lockFileFor(database);
  if (database === ':memory:') {
    return { file, release: () => undefined };
  }

  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 0');
    // In exclusive locking mode the lock a write takes is kept until the connection closes.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (error) {
    db.close();
    const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
    throw new CrewvzError(
      'crewvz.database',
      busy
        ? `another crewvz bot is using the database ${database} (it holds ${file}); ` +
            'stop it first, or give this bot its own database'
        : `cannot take the lock ${file} (${(error as Error).message}); ` +
            "check that the database's folder is writable",
      { cause: error },
    );
  }
  return { file, release: () => db.close() };
}
