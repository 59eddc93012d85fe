/**
 * What the owner of a new VE is told privately once it is active: how to log in (the node's
 * public host name; the host account's shell forwards into the VE), that their public key must
 * be sent first with `!ve key`, and, when the node has a web domain, the VE's web address
 * (Apache proxies USERNAME.WEBDOMAIN to it). A VE with no address (its agent does not
 * provision) has no login to tell of, and the owner is told just that.
 */
import type { Reply } from '../adapters/types.ts';
import type { NodeLogin } from './nodes.ts';

export function loginMessage(
  veId: number,
  username: string,
  login: NodeLogin,
  address: string | null,
): Reply {
  // Only a provisioning agent gives a VE an address (and a host account to log in through).
  if (address === null) {
    return {
      lines: [
        `your VE ${veId} is ready; it has no ssh login, since its node makes no host ` +
          'accounts (no address pool in its agent config): ask the crew',
      ],
    };
  }

  const lines = [
    `your VE ${veId} is ready; log in with: ssh ${username}@${login.sshHost}`,
    `before your first login, send me privately: !ve key ${veId} <your public key> (the ` +
      'line in ~/.ssh/id_ed25519.pub); the host takes keys only, no passwords',
  ];

  if (login.webDomain !== null) {
    lines.push(`its web address: http://${username}.${login.webDomain}/`);
  }
  return { lines };
}
