/**
 * Opens the bot's SQLite database the one way the bot uses it: WAL so readers never wait on the
 * writer, foreign keys on (SQLite leaves them off by default), a busy timeout so a second process
 * waits a little instead of failing at once, and the migrations applied.
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

  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);

  try {
    migrate(db, options.migrations ?? MIGRATIONS);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
