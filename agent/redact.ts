/**
 * Hides the user-info part of URLs (`https://user:password@host/`) in any text the agent sends
 * or logs. A `templateSource` may carry a mirror's credentials; they reach the mirror (Node's
 * https sends them as Basic auth) and nowhere else: not an answer, not chat, not a log line.
 */

/** scheme://  then user-info up to the '@' (user-info holds no '/', '@' or whitespace). */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]+@/gi;

export const REDACTED_USER_INFO = '***';

export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USER_INFO, `$1${REDACTED_USER_INFO}@`);
}

/** The message of anything thrown, with credentials hidden. */
export function redactedMessage(error: unknown): string {
  return redactUrlCredentials(error instanceof Error ? error.message : String(error));
}
