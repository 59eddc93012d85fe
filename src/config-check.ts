/**
 * Small checkers for config values. Each names the key path in its error, resolves `env:NAME`
 * strings from the environment it is given, and reports keys it does not know.
 */
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export class Checker {
  readonly warnings: string[] = [];

  constructor(private readonly env: Env) {}

  /** A mapping; absent (undefined or null) becomes an empty one. */
  object(value: unknown, key: string, known: readonly string[]): Record<string, unknown> {
    if (value === undefined || value === null) {
      return {};
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(`${key || 'the config file'} must be a mapping of keys to values`);
    }
    const record = value as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (!known.includes(name)) {
        const where = key ? `${key}.${name}` : name;
        this.warnings.push(`unknown config key ${where} ignored (known: ${known.join(', ')})`);
      }
    }
    return record;
  }

  /** Reads `env:NAME` through the environment; anything else comes back unchanged. */
  resolve(value: unknown, key: string): unknown {
    if (typeof value !== 'string' || !value.startsWith('env:')) {
      return value;
    }
    const name = value.slice(4);
    const found = this.env[name];
    if (found === undefined || found === '') {
      throw new ConfigError(`${key} is '${value}' but the environment variable ${name} is not set`);
    }
    return found;
  }

  string(value: unknown, key: string): string {
    const resolved = this.resolve(value, key);
    if (typeof resolved !== 'string' || resolved.trim() === '') {
      throw new ConfigError(`${key} must be a non-empty string`);
    }
    return resolved;
  }

  optionalString(value: unknown, key: string): string | null {
    return value === undefined || value === null ? null : this.string(value, key);
  }

  integer(value: unknown, key: string, min: number, fallback: number): number {
    if (value === undefined || value === null) {
      return fallback;
    }
    const resolved = this.resolve(value, key);
    const number = typeof resolved === 'string' ? Number(resolved) : resolved;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < min) {
      throw new ConfigError(`${key} must be a whole number of at least ${min}`);
    }
    return number;
  }

  list(value: unknown, key: string): unknown[] {
    if (value === undefined || value === null) {
      return [];
    }
    if (!Array.isArray(value)) {
      throw new ConfigError(`${key} must be a list`);
    }
    return value;
  }

  oneOf<T extends string>(value: unknown, key: string, choices: readonly T[], fallback: T): T {
    if (value === undefined || value === null) {
      return fallback;
    }
    const resolved = this.resolve(value, key);
    if (typeof resolved !== 'string' || !(choices as readonly string[]).includes(resolved)) {
      throw new ConfigError(`${key} must be one of: ${choices.join(', ')}`);
    }
    return resolved as T;
  }
}
