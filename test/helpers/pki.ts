/**
 * Test PKI, shared by every test file that needs TLS. Stable export:
 *
 *   const pki = await makeTestPki();
 *   pki.dir            a temp dir with ca.crt, ca.key, bot.crt, bot.key, node1.crt, node1.key
 *   pki.ca             the CA certificate (PEM); pki.caKey its key
 *   pki.bot            { cert, key } clientAuth, CN crewvz-bot
 *   pki.node1          { cert, key } serverAuth, SAN DNS:node1 and IP:127.0.0.1
 *   pki.node2          { cert, key } serverAuth for another node (SAN DNS:node2, IP:127.0.0.1)
 *   pki.expiredNode1   { cert, key } like node1 but expired yesterday
 *   pki.foreignCa      another CA's certificate; pki.foreignClient a clientAuth cert it signed
 *   pki.noUsage        { cert, key } signed by the CA with no extended key usage at all
 *
 * Made once per process (key generation is the slow part) and removed when the process exits.
 * Treat everything as read-only; copy the dir if a test needs to change files in it.
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BOT_COMMON_NAME, makeCertificate, type KeyPairPem } from '../../src/pki.ts';

export interface TestPki {
  dir: string;
  ca: string;
  caKey: string;
  bot: KeyPairPem;
  node1: KeyPairPem;
  node2: KeyPairPem;
  expiredNode1: KeyPairPem;
  foreignCa: string;
  foreignClient: KeyPairPem;
  noUsage: KeyPairPem;
}

let cached: TestPki | undefined;

const daysAgo = (days: number): Date => new Date(Date.now() - days * 86_400_000);

function build(): TestPki {
  const ca = makeCertificate({ commonName: 'crewvz test CA', usage: 'ca' });
  const bot = makeCertificate({ commonName: BOT_COMMON_NAME, usage: 'client', issuer: ca });
  const agent = (name: string, expired = false): KeyPairPem =>
    makeCertificate({
      commonName: name,
      usage: 'server',
      issuer: ca,
      dns: [name],
      ips: ['127.0.0.1'],
      ...(expired ? { notBefore: daysAgo(10), notAfter: daysAgo(1) } : {}),
    });
  const foreign = makeCertificate({ commonName: 'someone else CA', usage: 'ca' });
  const foreignClient = makeCertificate({
    commonName: BOT_COMMON_NAME,
    usage: 'client',
    issuer: foreign,
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'crewvz-test-pki-'));
  const node1 = agent('node1');
  const files: Record<string, string> = {
    'ca.crt': ca.cert,
    'ca.key': ca.key,
    'bot.crt': bot.cert,
    'bot.key': bot.key,
    'node1.crt': node1.cert,
    'node1.key': node1.key,
  };
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, name.endsWith('.key') ? 0o600 : 0o644);
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  return {
    dir,
    ca: ca.cert,
    caKey: ca.key,
    bot,
    node1,
    node2: agent('node2'),
    expiredNode1: agent('node1', true),
    foreignCa: foreign.cert,
    foreignClient,
    noUsage: makeCertificate({ commonName: 'no-usage', usage: 'plain', issuer: ca }),
  };
}

export async function makeTestPki(): Promise<TestPki> {
  cached ??= build();
  return cached;
}
