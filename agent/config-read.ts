/**
 * Typed readers for the agent config: each takes a raw YAML value and its key path, resolves
 * `env:NAME`, and either returns a checked value or throws an error that names the key.
 */
import { isIP } from 'node:net';
import path from 'node:path';

import { checkResource, parseBarrierLimit, ValidationError } from './validate.ts';

export const NodeNameRule = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/**
 * Names of the PKI's own files (ca.crt/ca.key, bot.crt/bot.key; src/pki.ts): a node called so
 * would load the CA's or the bot's certificate as its own.
 */
export const PKI_OWN_NAMES: readonly string[] = ['ca', 'bot'];
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

export interface Listen {
  host: string;
  port: number;
}

type Fail = (message: string) => Error;

export class Reader {
  readonly warnings: string[] = [];

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly base: string,
    readonly fail: Fail,
  ) {}

  /** Resolves `env:NAME`; an unset variable is an error naming both the key and the variable. */
  private resolve(value: unknown, key: string): unknown {
    if (typeof value !== 'string') {
      return value;
    }
    const match = ENV_REF.exec(value);
    if (!match) {
      return value;
    }
    const variable = match[1] as string;
    const found = this.env[variable];
    if (found === undefined) {
      throw this.fail(`${key}: environment variable ${variable} is not set`);
    }
    return found;
  }

  object(value: unknown, key: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.fail(`${key || 'the file'}: must be a mapping of keys to values`);
    }
    return value as Record<string, unknown>;
  }

  warnUnknown(value: Record<string, unknown>, known: string[], prefix: string): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        this.warnings.push(`unknown key ${prefix}${key} ignored (known: ${known.join(', ')})`);
      }
    }
  }

  string(
    value: unknown,
    key: string,
    options: { required?: boolean; pattern?: RegExp } = {},
  ): string | null {
    const resolved = this.resolve(value, key);
    if (resolved === undefined || resolved === null) {
      if (options.required) {
        throw this.fail(`${key}: required`);
      }
      return null;
    }
    if (typeof resolved !== 'string' || resolved === '') {
      throw this.fail(`${key}: must be a non-empty string`);
    }
    if (options.pattern && !options.pattern.test(resolved)) {
      throw this.fail(`${key}: '${resolved}' does not match ${options.pattern.source}`);
    }
    return resolved;
  }

  choice<T extends string>(value: unknown, key: string, allowed: readonly T[], fallback: T): T {
    const text = this.string(value, key);
    if (text === null) {
      return fallback;
    }
    if (!(allowed as readonly string[]).includes(text)) {
      throw this.fail(`${key}: must be one of ${allowed.join(', ')}, got '${text}'`);
    }
    return text as T;
  }

  /** A whole number from 1 to `max`; `fallback` when the key is absent. */
  count(value: unknown, key: string, fallback: number, max = 1_000_000): number {
    const resolved = this.resolve(value, key);
    if (resolved === undefined || resolved === null) {
      return fallback;
    }
    const number = typeof resolved === 'string' ? Number(resolved) : resolved;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > max) {
      throw this.fail(`${key}: must be a whole number from 1 to ${max}`);
    }
    return number;
  }

  path(value: unknown, key: string): string | null {
    const text = this.string(value, key);
    return text === null ? null : path.resolve(this.base, text);
  }

  dnsName(value: unknown, key: string): string | null {
    const text = this.string(value, key);
    if (text !== null && !DNS_NAME.test(text)) {
      throw this.fail(`${key}: '${text}' is not a DNS name`);
    }
    return text;
  }

  cidr(value: unknown, key: string): string | null {
    const text = this.string(value, key);
    if (text === null) {
      return null;
    }
    const [address = '', bits, ...rest] = text.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefix = Number(bits);
    if (family === 0 || rest.length > 0 || !/^\d{1,3}$/.test(bits ?? '') || prefix > max) {
      throw this.fail(`${key}: '${text}' is not an address range like 10.1.0.0/24`);
    }
    return text;
  }

  /** An address pool: a CIDR block, or an IPv4 range `FIRST-LAST` with both ends included. */
  pool(value: unknown, key: string): string | null {
    const text = this.string(value, key);
    if (text === null || !text.includes('-')) {
      return this.cidr(text ?? undefined, key);
    }
    const [first = '', last = '', ...rest] = text.split('-');
    const number = (address: string): number =>
      address.split('.').reduce((total, octet) => total * 256 + Number(octet), 0);

    if (rest.length > 0 || isIP(first) !== 4 || isIP(last) !== 4) {
      throw this.fail(
        `${key}: '${text}' is neither a CIDR block like 10.0.5.0/24 ` +
          'nor an IPv4 range like 10.0.5.10-10.0.5.200',
      );
    }
    if (number(last) < number(first)) {
      throw this.fail(`${key}: the range '${text}' ends before it starts; write FIRST-LAST`);
    }
    return text;
  }

  ipList(value: unknown, key: string): string[] {
    const resolved = this.resolve(value, key);
    if (resolved === undefined || resolved === null) {
      return [];
    }
    if (!Array.isArray(resolved)) {
      throw this.fail(`${key}: must be a list of IP addresses`);
    }
    return resolved.map((item, index) => {
      const text = this.string(item, `${key}[${index}]`, { required: true }) as string;
      if (isIP(text) === 0) {
        throw this.fail(`${key}[${index}]: '${text}' is not an IP address`);
      }
      return text;
    });
  }

  /** `limits: {resource: "barrier[:limit]"}`, checked with the same rules as the `set` command. */
  limits(value: unknown, key: string): Record<string, string> {
    if (value === undefined || value === null) {
      return {};
    }
    const entries = Object.entries(this.object(value, key));
    const result: Record<string, string> = {};
    for (const [resource, raw] of entries) {
      const where = `${key}.${resource}`;
      const resolved = this.resolve(raw, where);
      const text = typeof resolved === 'number' ? String(resolved) : resolved;
      try {
        checkResource(resource);
        parseBarrierLimit(text, resource);
      } catch (error) {
        if (error instanceof ValidationError) {
          throw this.fail(`${where}: ${error.message}`);
        }
        throw error;
      }
      result[resource] = text as string;
    }
    return result;
  }
}

/** `listen: HOST:PORT` (IPv6 as [::1]:7070). */
export function checkListen(text: string, read: Reader): Listen {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || port > 65535) {
    throw read.fail(`listen: '${text}' must be HOST:PORT, e.g. 0.0.0.0:7070 or [::]:7070`);
  }
  return { host, port };
}
