/**
 * One OpenSSH public key as a student pastes it (`TYPE BASE64 [comment]`), checked before it
 * goes anywhere near sshd: a known type, canonical base64, a blob whose embedded type matches
 * and whose structure parses to a key the crypto library accepts, RSA of at least 2048 bits.
 * What gets written is rebuilt from the checked parts: the comment is dropped and nothing
 * before the type (`command=`, `from=`, ...) is ever taken, so no authorized_keys option and
 * no second line can ride along.
 */
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';

import { ValidationError, describeValue } from '../validate.ts';

export const KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-rsa',
] as const;

export type KeyType = (typeof KEY_TYPES)[number];

/** An RSA 16384-bit key, OpenSSH's largest, is about 2,800 characters. */
export const MAX_KEY_CHARS = 8192;
export const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;

export interface PublicKey {
  type: KeyType;
  /** Canonical base64 of the blob, as ssh-keygen writes it. */
  base64: string;
  /** `SHA256:...`, as `ssh-keygen -l` shows it. */
  fingerprint: string;
}

// C0 controls, DEL, C1 controls and the Unicode line separators: nothing that could end a line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const SAFE_WORD = /^[A-Za-z0-9@._-]{1,48}$/;
const OPTION_HINT = /[=,"]/;

const ECDSA_CURVES: Readonly<Record<string, { jwk: string; pointBytes: number }>> = {
  nistp256: { jwk: 'P-256', pointBytes: 65 },
  nistp384: { jwk: 'P-384', pointBytes: 97 },
  nistp521: { jwk: 'P-521', pointBytes: 133 },
};

const FORMAT = 'give one OpenSSH public key: TYPE BASE64 [comment], as in your ~/.ssh/id_*.pub';

function refuse(why: string): never {
  throw new ValidationError(`KEY ${why}`);
}

/** The key's type word for a message: only when it is short and harmless. */
function shown(word: string): string {
  return SAFE_WORD.test(word) ? `'${word}'` : 'its first word';
}

/** Reads RFC 4251 fields (uint32 length + bytes) off a key blob. */
class BlobReader {
  private offset = 0;

  constructor(private readonly blob: Buffer) {}

  string(): Buffer {
    if (this.offset + 4 > this.blob.length) {
      return refuse('is cut off: its base64 part ends inside a field (copy the whole line)');
    }
    const length = this.blob.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (length > this.blob.length - start) {
      return refuse('is cut off: its base64 part ends inside a field (copy the whole line)');
    }
    this.offset = start + length;
    return this.blob.subarray(start, this.offset);
  }

  /** An mpint that must be positive and minimally encoded; answered without sign padding. */
  positiveMpint(name: string): Buffer {
    const bytes = this.string();
    const first = bytes[0];
    const padded = first === 0 && bytes.length > 1 && ((bytes[1] ?? 0) & 0x80) !== 0;
    if (first === undefined || (first & 0x80) !== 0 || (first === 0 && !padded)) {
      return refuse(`holds a malformed RSA ${name}`);
    }
    return padded ? bytes.subarray(1) : bytes;
  }

  end(): void {
    if (this.offset !== this.blob.length) {
      refuse('has bytes after the key in its base64 part; copy the line again');
    }
  }
}

function bitLength(magnitude: Buffer): number {
  const top = magnitude[0] ?? 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(top));
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** Lets the crypto library confirm the numbers are a key (an EC point on its curve, say). */
function checkWithCrypto(type: KeyType, jwk: JsonWebKey): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    refuse(`does not hold a valid ${type} public key`);
  }
}

function checkEd25519(reader: BlobReader, type: KeyType): void {
  const point = reader.string();
  if (point.length !== 32) {
    refuse(`holds a ${point.length}-byte ed25519 key; it must be 32 bytes`);
  }
  checkWithCrypto(type, { kty: 'OKP', crv: 'Ed25519', x: base64url(point) });
}

function checkEcdsa(reader: BlobReader, type: KeyType, curve: string): void {
  const named = reader.string().toString('latin1');
  const spec = ECDSA_CURVES[curve];
  if (spec === undefined || named !== curve) {
    refuse(`says ${type} but names another curve inside`);
  }
  const point = reader.string();
  if (point.length !== spec.pointBytes || point[0] !== 0x04) {
    refuse(`holds a malformed ${curve} point`);
  }
  const half = (spec.pointBytes - 1) / 2;
  checkWithCrypto(type, {
    kty: 'EC',
    crv: spec.jwk,
    x: base64url(point.subarray(1, 1 + half)),
    y: base64url(point.subarray(1 + half)),
  });
}

function checkRsa(reader: BlobReader, type: KeyType): void {
  const exponent = reader.positiveMpint('exponent');
  const modulus = reader.positiveMpint('modulus');
  const bits = bitLength(modulus);
  if (bits < MIN_RSA_BITS) {
    refuse(
      `is a ${bits}-bit RSA key; RSA keys need at least ${MIN_RSA_BITS} bits: ` +
        'make a new one with ssh-keygen -t ed25519',
    );
  }
  if (bits > MAX_RSA_BITS) {
    refuse(`is a ${bits}-bit RSA key; OpenSSH takes at most ${MAX_RSA_BITS} bits`);
  }
  checkWithCrypto(type, { kty: 'RSA', n: base64url(modulus), e: base64url(exponent) });
}

/** A security key's application string ("ssh:" by default): printable ASCII. */
function checkApplication(reader: BlobReader): void {
  const application = reader.string().toString('latin1');
  if (!/^[\x21-\x7e]{1,255}$/.test(application)) {
    refuse('holds a malformed security-key application name');
  }
}

function checkBlob(type: KeyType, blob: Buffer): void {
  const reader = new BlobReader(blob);
  const embedded = reader.string().toString('latin1');
  if (embedded !== type) {
    refuse(`says ${type} but its base64 part holds a ${shown(embedded)} key`);
  }

  if (type === 'ssh-ed25519') {
    checkEd25519(reader, type);
  } else if (type === 'sk-ssh-ed25519@openssh.com') {
    checkEd25519(reader, type);
    checkApplication(reader);
  } else if (type === 'ssh-rsa') {
    checkRsa(reader, type);
  } else if (type === 'sk-ecdsa-sha2-nistp256@openssh.com') {
    checkEcdsa(reader, type, 'nistp256');
    checkApplication(reader);
  } else {
    checkEcdsa(reader, type, type.slice('ecdsa-sha2-'.length));
  }
  reader.end();
}

function isKeyType(word: string): word is KeyType {
  return (KEY_TYPES as readonly string[]).includes(word);
}

/** Checks `value` completely; throws ValidationError (`KEY ...`) saying what is wrong. */
export function parsePublicKey(value: unknown): PublicKey {
  if (typeof value !== 'string') {
    return refuse(`must be a string, got ${describeValue(value)}`);
  }
  if (value.length > MAX_KEY_CHARS) {
    return refuse(`is ${value.length} characters long; a public key is at most ${MAX_KEY_CHARS}`);
  }
  if (CONTROL.test(value)) {
    return refuse('holds a newline or another control character; give one key on one line');
  }

  const fields = value.trim().split(/ +/);
  const [type = '', base64] = fields;
  if (type === '') {
    return refuse(`is empty; ${FORMAT}`);
  }
  if (!isKeyType(type)) {
    if (OPTION_HINT.test(type) || fields.slice(1).some(isKeyType)) {
      return refuse(`starts with options (command=, from=, ...), which are not taken; ${FORMAT}`);
    }
    return refuse(`type ${shown(type)} is not one of ${KEY_TYPES.join(', ')}`);
  }
  if (base64 === undefined) {
    return refuse(`has no base64 part after ${type}; ${FORMAT}`);
  }

  const blob = Buffer.from(base64, 'base64');
  if (!BASE64.test(base64) || base64.length % 4 !== 0 || blob.toString('base64') !== base64) {
    return refuse('has a base64 part that is not valid base64 (cut off when copied?)');
  }
  checkBlob(type, blob);

  const digest = createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return { type, base64, fingerprint: `SHA256:${digest}` };
}

/** The authorized_keys line: the checked type and blob only, nothing of the comment. */
export function authorizedKeyLine(key: PublicKey): string {
  return `${key.type} ${key.base64}\n`;
}
