import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths that may carry secrets. Chat text is logged by length, never by content, so these are
 * the config and key fields a careless `log.info({config})` could otherwise leak.
 */
const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  '*.*.token',
  'signingSecret',
  '*.signingSecret',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
];

export interface LogOptions {
  level?: string;
  /** A file to append JSON lines to; stdout when absent. */
  file?: string;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.CREWVZ_LOG_LEVEL ?? 'info';
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };

  if (options.file) {
    const destination = pino.destination({ dest: options.file, mkdir: true, sync: false });
    return pino({ level, redact, base: { app: 'crewvz' } }, destination);
  }
  return pino({ level, redact, base: { app: 'crewvz' } });
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
