/**
 * The agent's own logging (agent/ ships alone, so it cannot share src/log.ts). JSON lines on
 * stdout; requests are logged by command, VE, code and duration, never by their arguments.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fields that could carry key material if someone logged a config or TLS options object. */
const REDACT_PATHS = ['key', '*.key', 'cert', '*.cert', 'ca', '*.ca', 'password', '*.password'];

export function createAgentLogger(level: LogLevel = 'info'): Logger {
  return pino({
    level,
    base: { app: 'crewvz-agent', pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}

export function silentAgentLogger(): Logger {
  return pino({ level: 'silent' });
}
