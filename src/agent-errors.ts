/** How an agent call fails, as the bot sees it (thrown by src/agent-client.ts). */
import { describeCode } from '../agent/protocol.ts';
import { CrewvzError } from './errors.ts';

/** The agent answered with a non-zero code. `code` is numeric: vzctl's status or an AgentCode. */
export class AgentCallError extends Error {
  constructor(
    readonly node: string,
    readonly command: string,
    readonly code: number,
    readonly lines: string[],
  ) {
    const detail = lines.length > 0 ? `: ${lines.join('; ')}` : '';
    super(`${command} on ${node} failed with code ${code} (${describeCode(code)})${detail}`);
    this.name = 'AgentCallError';
  }
}

/**
 * The node could not be reached, or the connection dropped before the answer came. `reason` is
 * the full text for the log; `short` a few words for chat (`connection refused`).
 */
export class NodeUnreachableError extends CrewvzError {
  readonly short: string;

  constructor(
    readonly node: string,
    readonly reason: string,
    short?: string,
  ) {
    super('crewvz.node_unreachable', `node ${node} is unreachable (${reason})`);
    this.short = short ?? reason;
  }
}

/** OpenSSL and Node codes for a peer certificate the bot does not trust. */
const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT/;

/**
 * Why a connection to an agent failed, in a few words for people: the error code first (stable),
 * the message as a fallback. The agent refusing the bot's certificate shows up as a TLS alert,
 * or as a reset right after the handshake.
 */
export function shortReason(error: Error & { code?: string }): string {
  const code = error.code ?? '';
  const message = error.message;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altnames/.test(message)) {
    return 'certificate name mismatch';
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return 'agent certificate expired';
  }
  if (/ALERT|alert/.test(code + message) || code === 'ECONNRESET' || /hang up/.test(message)) {
    return 'TLS handshake refused';
  }
  if (UNTRUSTED.test(code)) {
    return `agent certificate not trusted (${code})`;
  }
  const SHORT: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ETIMEDOUT: 'timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed',
  };
  return SHORT[code] ?? (/timed out/.test(message) ? 'timed out' : message);
}
