import type { Conversation } from '../../adapters/types.ts';
import type { Db } from './db.ts';

export const REQUEST_STATES = [
  'pending',
  'approved',
  'provisioning',
  'active',
  'failed',
  'denied',
  'cancelled',
  'expired',
] as const;

export type RequestState = (typeof REQUEST_STATES)[number];

/** States in which a request still counts against its requester's quota of open requests. */
export const OPEN_STATES: readonly RequestState[] = ['pending'];
/** States in which a request is on its way to a VE (counted with the active VEs). */
export const IN_FLIGHT_STATES: readonly RequestState[] = ['approved', 'provisioning'];

export interface Origin {
  adapter: string;
  conversation: Conversation;
}

export interface VeRequest {
  id: number;
  requester: string;
  username: string;
  /** Null while the node's default is wanted: it is chosen when the request is approved. */
  template: string | null;
  state: RequestState;
  createdAt: string;
  updatedAt: string;
  decidedBy: string | null;
  reason: string | null;
  veId: number | null;
  node: string | null;
  origin: Origin | null;
}

interface Row {
  id: number;
  requester: string;
  username: string;
  template: string | null;
  state: RequestState;
  created_at: string;
  updated_at: string;
  decided_by: string | null;
  reason: string | null;
  ve_id: number | null;
  node: string | null;
  origin_adapter: string | null;
  origin_kind: string | null;
  origin_room: string | null;
  origin_thread: string | null;
}

function fromRow(row: Row): VeRequest {
  let origin: Origin | null = null;
  if (row.origin_adapter && row.origin_room && row.origin_kind) {
    const conversation: Conversation = {
      kind: row.origin_kind === 'channel' ? 'channel' : 'private',
      room: row.origin_room,
    };
    if (row.origin_thread) {
      conversation.thread = row.origin_thread;
    }
    origin = { adapter: row.origin_adapter, conversation };
  }
  return {
    id: row.id,
    requester: row.requester,
    username: row.username,
    template: row.template,
    state: row.state,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    decidedBy: row.decided_by,
    reason: row.reason,
    veId: row.ve_id,
    node: row.node,
    origin,
  };
}

export interface NewRequest {
  requester: string;
  username: string;
  template: string | null;
  at: string;
  origin: Origin | null;
}

export interface Transition {
  state: RequestState;
  at: string;
  decidedBy?: string;
  reason?: string;
  veId?: number;
  node?: string;
  /** Set when approval chose the template of a request filed without one. */
  template?: string;
}

/** Requests for a VE; every method is one statement, the caller owns the transaction. */
export class RequestRepo {
  constructor(private readonly db: Db) {}

  insert(request: NewRequest): VeRequest {
    const info = this.db
      .prepare(
        `INSERT INTO requests (requester, username, template, state, created_at, updated_at,
           origin_adapter, origin_kind, origin_room, origin_thread)
         VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        request.requester,
        request.username,
        request.template,
        request.at,
        request.at,
        request.origin?.adapter ?? null,
        request.origin?.conversation.kind ?? null,
        request.origin?.conversation.room ?? null,
        request.origin?.conversation.thread ?? null,
      );
    return this.get(Number(info.lastInsertRowid)) as VeRequest;
  }

  get(id: number): VeRequest | null {
    const row = this.db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** Changes the state only if it is still `from`; false when someone else moved it first. */
  transition(id: number, from: RequestState, to: Transition): boolean {
    const info = this.db
      .prepare(
        `UPDATE requests SET state = ?, updated_at = ?,
           decided_by = COALESCE(?, decided_by), reason = COALESCE(?, reason),
           ve_id = COALESCE(?, ve_id), node = COALESCE(?, node),
           template = COALESCE(?, template)
         WHERE id = ? AND state = ?`,
      )
      .run(
        to.state,
        to.at,
        to.decidedBy ?? null,
        to.reason ?? null,
        to.veId ?? null,
        to.node ?? null,
        to.template ?? null,
        id,
        from,
      );
    return info.changes === 1;
  }

  inStates(states: readonly RequestState[], requester?: string): VeRequest[] {
    const marks = states.map(() => '?').join(', ');
    const byRequester = requester === undefined ? '' : ' AND requester = ?';
    const params: unknown[] = [...states];
    if (requester !== undefined) {
      params.push(requester);
    }
    const rows = this.db
      .prepare(`SELECT * FROM requests WHERE state IN (${marks})${byRequester} ORDER BY id`)
      .all(...params) as Row[];
    return rows.map(fromRow);
  }

  countInStates(requester: string, states: readonly RequestState[]): number {
    const marks = states.map(() => '?').join(', ');
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM requests WHERE requester = ? AND state IN (${marks})`)
      .get(requester, ...states) as { n: number };
    return row.n;
  }

  /** Requesters whose requests in `states` carry `username`. */
  requestersOfLogin(username: string, states: readonly RequestState[]): string[] {
    const marks = states.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT DISTINCT requester FROM requests WHERE username = ? AND state IN (${marks})`,
      )
      .all(username, ...states) as { requester: string }[];
    return rows.map((row) => row.requester);
  }

  /** The number the next filed request will get (AUTOINCREMENT never reuses one). */
  nextId(): number {
    const row = this.db
      .prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'requests'`)
      .get() as { seq: number } | undefined;
    return (row?.seq ?? 0) + 1;
  }

  /** Pending requests filed before `cutoff` (an ISO time). */
  pendingBefore(cutoff: string): VeRequest[] {
    const rows = this.db
      .prepare(`SELECT * FROM requests WHERE state = 'pending' AND created_at < ? ORDER BY id`)
      .all(cutoff) as Row[];
    return rows.map(fromRow);
  }
}
