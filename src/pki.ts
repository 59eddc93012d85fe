/**
 * The private PKI that ties the bot to its node agents: one CA, one client certificate for the
 * bot (clientAuth only) and one server certificate per node (serverAuth only). Node's crypto
 * makes the keys; node-forge builds and signs the certificates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';

import { UserFacingError } from './errors.ts';
import { checkPkiDir, entryExists, writePem } from './pki-files.ts';

const RSA_BITS = 2048;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;
const DAY_MS = 24 * 60 * 60 * 1000;

export const BOT_COMMON_NAME = 'crewvz-bot';
export const CA_COMMON_NAME = 'crewvz CA';

/** A node name is one hostname label: it becomes a file name and the certificate's DNS name. */
export const NODE_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME_PATTERN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export interface KeyPairPem {
  key: string;
  cert: string;
}

/** `plain`: a leaf with no extended key usage at all (OpenSSL lets it act as either side). */
export type CertUsage = 'ca' | 'client' | 'server' | 'plain';

export interface CertRequest {
  commonName: string;
  usage: CertUsage;
  /** The issuer; absent for a self-signed CA. */
  issuer?: KeyPairPem;
  dns?: string[];
  ips?: string[];
  /** Validity window; tests use it to make expired certificates. */
  notBefore?: Date;
  notAfter?: Date;
}

function newRsaKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A positive 128-bit serial: random, so two certificates from one CA never share one. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function extensionsFor(request: CertRequest): object[] {
  if (request.usage === 'ca') {
    return [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ];
  }
  const leaf: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (request.usage !== 'plain') {
    const usage = request.usage === 'client' ? { clientAuth: true } : { serverAuth: true };
    leaf.push({ name: 'extKeyUsage', ...usage });
  }
  const altNames = [
    ...(request.dns ?? []).map((value) => ({ type: 2, value })),
    ...(request.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length > 0) {
    leaf.push({ name: 'subjectAltName', altNames });
  }
  return leaf;
}

/** Makes a key and a certificate for it, signed by `issuer` (or by itself for a CA). */
export function makeCertificate(request: CertRequest): KeyPairPem {
  const { privatePem, publicPem } = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = newSerial();

  const now = Date.now();
  const days = request.usage === 'ca' ? CA_DAYS : LEAF_DAYS;
  // Backdated a little so a node whose clock lags the CA's still accepts a fresh certificate.
  cert.validity.notBefore = request.notBefore ?? new Date(now - 5 * 60 * 1000);
  cert.validity.notAfter = request.notAfter ?? new Date(now + days * DAY_MS);

  const subject = [{ name: 'commonName', value: request.commonName }];
  cert.setSubject(subject);

  let signingKey = forge.pki.privateKeyFromPem(privatePem);
  if (request.issuer) {
    const issuerCert = forge.pki.certificateFromPem(request.issuer.cert);
    cert.setIssuer(issuerCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(request.issuer.key);
    const issuerKeyId = issuerCert.generateSubjectKeyIdentifier().getBytes();
    cert.setExtensions([
      ...extensionsFor(request),
      { name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId },
    ]);
  } else {
    cert.setIssuer(subject);
    cert.setExtensions(extensionsFor(request));
  }

  cert.sign(signingKey, forge.md.sha256.create());
  return { key: privatePem, cert: forge.pki.certificateToPem(cert) };
}

async function refuseOverwrite(files: string[], force: boolean): Promise<void> {
  if (force) {
    return;
  }
  for (const file of files) {
    if (await entryExists(file)) {
      throw new UserFacingError(`${file} already exists; use --force to replace it`);
    }
  }
}

export interface WriteOptions {
  force?: boolean;
}

/**
 * The base names of the files `pki init` writes (ca.crt, ca.key, bot.crt, bot.key). A node may
 * not have one: its NAME.crt/NAME.key would overwrite the CA or the bot's certificate. The agent
 * refuses the same names in its config (agent/config-read.ts).
 */
export const PKI_OWN_NAMES: readonly string[] = ['ca', 'bot'];

/** `crewvz pki init`: the CA and the bot's client certificate. Returns the files written. */
export async function initPki(dir: string, options: WriteOptions = {}): Promise<string[]> {
  const names = PKI_OWN_NAMES.flatMap((name) => [`${name}.crt`, `${name}.key`]);
  const files = names.map((name) => path.join(dir, name));
  // The mode only applies to a new folder; checkPkiDir refuses an existing one left open.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await checkPkiDir(dir);
  await refuseOverwrite(files, options.force ?? false);

  const ca = makeCertificate({ commonName: CA_COMMON_NAME, usage: 'ca' });
  const bot = makeCertificate({ commonName: BOT_COMMON_NAME, usage: 'client', issuer: ca });

  const [caCrt, caKey, botCrt, botKey] = files as [string, string, string, string];
  await writePem(caKey, ca.key, true);
  await writePem(caCrt, ca.cert, false);
  await writePem(botKey, bot.key, true);
  await writePem(botCrt, bot.cert, false);
  return files;
}

export interface AgentCertOptions extends WriteOptions {
  ips?: string[];
  dns?: string[];
}

export function checkNodeName(name: string): void {
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new UserFacingError(
      `node name '${name}' is not a hostname label: use 1-63 lowercase letters, digits and ` +
        `hyphens, not starting or ending with a hyphen`,
    );
  }
  if (PKI_OWN_NAMES.includes(name)) {
    throw new UserFacingError(
      `node name '${name}' is taken by the PKI's own files (${name}.crt, ${name}.key): ` +
        `name the node after its host instead, e.g. node1`,
    );
  }
}

function checkAltNames(ips: string[], dns: string[]): void {
  for (const ip of ips) {
    if (isIP(ip) === 0) {
      throw new UserFacingError(`--ip '${ip}' is not an IPv4 or IPv6 address`);
    }
  }
  for (const host of dns) {
    if (!DNS_NAME_PATTERN.test(host)) {
      throw new UserFacingError(`--dns '${host}' is not a DNS name`);
    }
  }
}

/** Reads the CA's key and certificate, with a message that says how to make them. */
export async function loadCa(dir: string): Promise<KeyPairPem> {
  const certFile = path.join(dir, 'ca.crt');
  const keyFile = path.join(dir, 'ca.key');
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UserFacingError(
      `cannot read the CA in ${dir} (${reason}); run 'crewvz pki init --dir ${dir}' first`,
    );
  }
}

/** `crewvz pki issue-agent NAME`: NAME.crt and NAME.key, serverAuth, SAN DNS:NAME + extras. */
export async function issueAgentCert(
  dir: string,
  name: string,
  options: AgentCertOptions = {},
): Promise<string[]> {
  checkNodeName(name);
  const ips = options.ips ?? [];
  const dns = options.dns ?? [];
  checkAltNames(ips, dns);

  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await refuseOverwrite([certFile, keyFile], options.force ?? false);

  // A missing folder is left to loadCa, whose message says to run init.
  if (await entryExists(dir)) {
    await checkPkiDir(dir);
  }
  const ca = await loadCa(dir);

  const agent = makeCertificate({
    commonName: name,
    usage: 'server',
    issuer: ca,
    dns: [name, ...dns.filter((host) => host !== name)],
    ips,
  });
  await writePem(keyFile, agent.key, true);
  await writePem(certFile, agent.cert, false);
  return [certFile, keyFile];
}

/** The PEM files a TLS endpoint needs, read once at start. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** Reads ca.crt plus NAME.crt/NAME.key from a PKI dir; an error names the unreadable file. */
export async function loadTlsMaterial(dir: string, name: string): Promise<TlsMaterial> {
  const read = async (file: string): Promise<string> => {
    const full = path.join(dir, file);
    try {
      return await readFile(full, 'utf8');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new UserFacingError(`cannot read ${full} (${reason}); check the pki directory`);
    }
  };
  return {
    ca: await read('ca.crt'),
    cert: await read(`${name}.crt`),
    key: await read(`${name}.key`),
  };
}
