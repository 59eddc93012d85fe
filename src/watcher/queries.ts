/**
 * What the `!alerts` commands need from the watcher: the recent alerts in words, and muting one
 * VE for a while. Permission checks (crew, or the owner for their own VE) stay with the command.
 */
import { formatDistanceStrict, formatDuration, formatISO, intervalToDuration } from 'date-fns';
import { UserFacingError } from '../errors.ts';
import type { AlertRecord, BaselineStore } from './types.ts';

export const DEFAULT_ALERT_LIST = 10;
/** A channel alert lists at most 10 items and points here for the rest; KEEP_ALERTS are kept. */
export const MAX_ALERT_LIST = 200;
export const MAX_MUTE_MS = 30 * 24 * 60 * 60 * 1000;

const DURATION = /^([1-9][0-9]{0,5})([mhd])$/;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const ACCEPTED = 'a whole number followed by m, h or d, like 30m, 2h or 1d (at most 30d)';

/** `30m`, `2h`, `1d` in milliseconds; anything else is a mistake the user is told how to fix. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim().toLowerCase());
  if (!match) {
    throw new UserFacingError(`"${text.slice(0, 20)}" is not a duration: use ${ACCEPTED}.`);
  }
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  if (ms > MAX_MUTE_MS) {
    throw new UserFacingError(`${text} is too long: use ${ACCEPTED}.`);
  }
  return ms;
}

export interface MuteRequest {
  ve: string;
  duration: string;
  /** Identity of whoever asked. */
  by: string;
  now: number;
}

/** Mutes the VE's alerts (replacing an earlier mute) and says until when. */
export function muteVe(store: BaselineStore, request: MuteRequest): string[] {
  const until = request.now + parseDuration(request.duration);
  store.putMute({ ve: request.ve, until, by: request.by });

  const span = formatDuration(intervalToDuration({ start: request.now, end: until }));
  return [`Beancounter alerts for VE ${request.ve} are muted for ${span}, until ${stamp(until)}.`];
}

/** The newest alerts, then the mutes still running. */
export function recentAlertLines(
  store: BaselineStore,
  now: number,
  limit = DEFAULT_ALERT_LIST,
): string[] {
  const alerts = store.recentAlerts(limit);
  const lines = alerts.length === 0
    ? ['No beancounter alerts yet.']
    : alerts.map((alert) => `${formatDistanceStrict(alert.at, now, { addSuffix: true })}: ` +
      describe(alert));

  for (const mute of store.activeMutes(now).values()) {
    lines.push(`VE ${mute.ve} is muted until ${stamp(mute.until)} (by ${mute.by}).`);
  }
  return lines;
}

function describe(alert: AlertRecord): string {
  switch (alert.kind) {
    case 'growth': {
      const owner = alert.owner === null ? 'unmanaged' : `owner ${alert.owner}`;
      return `${alert.node} VE ${alert.ve} ${alert.resource} +${alert.delta} (${owner})`;
    }
    case 'unmanaged':
      return `${alert.node} VE ${alert.ve} is not managed by the bot`;
    case 'unreachable':
      return `${alert.node} unreachable`;
    case 'back':
      return `${alert.node} reachable again`;
  }
}

function stamp(ms: number): string {
  return formatISO(ms).replace('T', ' ').slice(0, 16);
}
