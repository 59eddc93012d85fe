/**
 * GET over HTTPS with a pinned CA, for template sync. Redirects are not followed: the index
 * names files beside itself, and a redirect elsewhere is a misconfigured source.
 */
import { get } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

import { redactUrlCredentials } from '../redact.ts';

/** A server that sends nothing for this long is gone; big templates still stream fine. */
export const IDLE_TIMEOUT_MS = 60_000;

/** Resolves with the body stream of a 200 answer; anything else is an error naming the URL. */
export function httpsGet(
  url: URL,
  ca: string | null,
  idleMs = IDLE_TIMEOUT_MS,
): Promise<Readable> {
  // Messages name the URL without its user-info; the request itself still sends it.
  const shown = redactUrlCredentials(url.toString());
  return new Promise((resolve, reject) => {
    const options = { ca: ca ?? undefined, timeout: idleMs };
    const request = get(url, options, (response: IncomingMessage) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${shown} answered HTTP ${response.statusCode}`));
        return;
      }
      resolve(response);
    });

    request.on('timeout', () => {
      request.destroy(new Error(`${shown} sent nothing for ${idleMs} ms`));
    });
    request.on('error', reject);
  });
}

/** Reads a whole small body, refusing one larger than `limit` bytes. */
export async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;

  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length;
    if (bytes > limit) {
      stream.destroy();
      throw new Error(`answer larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
