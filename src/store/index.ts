/**
 * The bot's store: one SQLite database and a repository per table. Repositories run single
 * statements; `transaction` groups them so a state change and its audit row land together.
 */
import { AuditRepo } from './audit.ts';
import { openDatabase, type Db, type OpenOptions } from './db.ts';
import { EventRepo } from './events.ts';
import { GrantRepo } from './grants.ts';
import { RequestRepo } from './requests.ts';
import { VeRepo } from './ves.ts';

export class Store {
  readonly requests: RequestRepo;
  readonly ves: VeRepo;
  readonly grants: GrantRepo;
  readonly audit: AuditRepo;
  readonly events: EventRepo;

  constructor(readonly db: Db) {
    this.requests = new RequestRepo(db);
    this.ves = new VeRepo(db);
    this.grants = new GrantRepo(db);
    this.audit = new AuditRepo(db);
    this.events = new EventRepo(db);
  }

  static open(file: string, options: OpenOptions = {}): Store {
    return new Store(openDatabase(file, options));
  }

  /** Runs `work` in one immediate transaction: all of it lands, or none of it. */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  close(): void {
    this.db.close();
  }
}

export type { AuditEntry, AuditOutcome, AuditRecord } from './audit.ts';
export type { NewRequest, Origin, RequestState, VeRequest } from './requests.ts';
export type { VeRecord } from './ves.ts';
