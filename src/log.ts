import pino, { type Logger } from 'pino';

export type { Logger };

/** Field names that may carry secrets, wherever they sit in a logged object. */
const SECRET_KEYS = [
  'password',
  'token',
  'secret',
  'signingSecret',
  'key',
  'privateKey',
  'passphrase',
];
/** How deep a secret is still found: `config.adapters.irc.sasl.password` is four levels. */
const REDACT_DEPTH = 6;

/**
 * Paths that may carry secrets. Chat text is logged by length, never by content, so these are
 * the config and key fields a careless `log.info({config})` could otherwise leak. pino's
 * wildcards match one level each, so every depth up to REDACT_DEPTH gets its own path.
 */
const REDACT_PATHS = SECRET_KEYS.flatMap((key) =>
  Array.from({ length: REDACT_DEPTH + 1 }, (_, depth) => `${'*.'.repeat(depth)}${key}`),
);

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
