/**
 * Opens the bot's SQLite database the one way the bot uses it: WAL so readers never wait on the
 * writer, foreign keys on (SQLite leaves them off by default), a busy timeout so a second process
 * waits a little instead of failing at once, checked to be sound and writable, and the
 * migrations applied.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

import { CrewvzError } from '../errors.ts';
import { migrate, MIGRATIONS, type Migration } from './migrations.ts';

export type Db = Database.Database;

const BUSY_TIMEOUT_MS = 5000;

export interface OpenOptions {
  /** Only tests pass their own list, to try a database newer than the code. */
  migrations?: readonly Migration[];
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ':memory:') {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }
  let db: Db;
  try {
    db = new Database(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CrewvzError(
      'crewvz.database',
      `cannot open the database ${file} (${reason}); check the 'database' path and its folder`,
      { cause: error },
    );
  }

  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    checkUsable(db, file);
    migrate(db, options.migrations ?? MIGRATIONS);
  } catch (error) {
    db.close();
    throw error instanceof CrewvzError ? error : unusable(file, error);
  }
  return db;
}

/**
 * Refuses a damaged database, or one the bot cannot write, before anything runs: otherwise a
 * command would act on a node and then fail to record it, and be answered as failed though done.
 */
function checkUsable(db: Db, file: string): void {
  const verdict = db.pragma('quick_check(1)', { simple: true });
  if (verdict !== 'ok') {
    throw new CrewvzError(
      'crewvz.database',
      `the database ${file} is damaged (${String(verdict)}); restore it from a backup`,
    );
  }

  // A real write, undone: what a full disk or a read-only file refuses.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${version}`);
  }).immediate();
}

function unusable(file: string, error: unknown): CrewvzError {
  const reason = error instanceof Error ? error.message : String(error);
  return new CrewvzError(
    'crewvz.database',
    `cannot use the database ${file} (${reason}); check that it is a crewvz database, that ` +
      'it and its folder are writable, and that the disk has room',
    { cause: error },
  );
}
