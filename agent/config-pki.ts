/**
 * Checks the agent's own certificate before it listens: a certificate copied from another node,
 * a key that belongs to another certificate, a certificate another CA signed or one not meant
 * for a server would otherwise only show up as a refusal on the bot's side.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';

import { AgentConfigError, type PkiFiles } from './config.ts';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

export interface PkiMaterial {
  ca: string;
  cert: string;
  key: string;
}

function parseCertificate(pem: string, file: string, remedy: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    const reason = (error as Error).message;
    throw new AgentConfigError(`pki: ${file} is not a PEM certificate (${reason}); ${remedy}`);
  }
}

/** Throws an AgentConfigError naming the file at fault and how to make a right one. */
export function checkPkiMaterial(name: string, files: PkiFiles, material: PkiMaterial): void {
  const reissue =
    `issue it again with 'crewvz pki issue-agent ${name} --dir DIR --force' (DIR holds the CA) ` +
    `and copy ${name}.crt and ${name}.key into ${files.dir}`;
  const ca = parseCertificate(material.ca, files.ca, `copy the CA's ca.crt into ${files.dir}`);
  const cert = parseCertificate(material.cert, files.cert, reissue);

  // subject 'never': only a subjectAltName counts, as it does for the bot's TLS check.
  if (cert.checkHost(name, { subject: 'never', wildcards: false }) === undefined) {
    const names = cert.subjectAltName ?? 'none';
    throw new AgentConfigError(
      `pki: ${files.cert} is not a certificate for node ${name} (its subjectAltName: ${names}); ` +
        reissue,
    );
  }
  if (!cert.verify(ca.publicKey)) {
    throw new AgentConfigError(
      `pki: ${files.cert} was not signed by the CA in ${files.ca}; ${reissue}`,
    );
  }
  if (!(cert.keyUsage ?? []).includes(SERVER_AUTH_OID)) {
    throw new AgentConfigError(
      `pki: ${files.cert} is not a server certificate (no extended key usage serverAuth); ` +
        reissue,
    );
  }

  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(material.key));
  } catch (error) {
    throw new AgentConfigError(
      `pki: ${files.key} is not a readable private key (${(error as Error).message}); ${reissue}`,
    );
  }
  if (!matches) {
    throw new AgentConfigError(`pki: ${files.key} is not the key of ${files.cert}; ${reissue}`);
  }
}
