/**
 * Reads one request line: valid UTF-8, a JSON object, a string `command`, an array of
 * `arguments` and an optional `id`. What is wrong with a line becomes a RequestError with its
 * code (1001) and, once the id could be read, that id.
 */
import { AgentCode, type RequestId } from './protocol.ts';

const MAX_ID_LENGTH = 128;
export const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

export interface ParsedRequest {
  command: string;
  args: unknown[];
  id: RequestId | null;
}

/** A request that cannot be run at all; `id` is set once it could be read. */
export class RequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly id: RequestId | null = null,
  ) {
    super(message);
  }
}

function isRequestId(value: unknown): value is RequestId {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value);
  }
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && PRINTABLE_ASCII.test(value);
}

export function parseRequest(text: string): ParsedRequest {
  // The line splitter decodes invalid UTF-8 to U+FFFD; nothing we accept contains it.
  if (text.includes('\uFFFD')) {
    throw new RequestError(AgentCode.MALFORMED_JSON, 'the request is not valid UTF-8');
  }
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new RequestError(AgentCode.MALFORMED_JSON, 'the request is not valid JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new RequestError(AgentCode.MALFORMED_JSON, 'the request must be a JSON object');
  }

  const { command, arguments: args, id } = message as Record<string, unknown>;
  if (id !== undefined && id !== null && !isRequestId(id)) {
    throw new RequestError(
      AgentCode.MALFORMED_JSON,
      `"id" must be an integer or a printable string of at most ${MAX_ID_LENGTH} characters`,
    );
  }
  const requestId = id === undefined ? null : (id as RequestId | null);
  if (typeof command !== 'string') {
    throw new RequestError(AgentCode.MALFORMED_JSON, '"command" must be a string', requestId);
  }
  if (args !== undefined && !Array.isArray(args)) {
    throw new RequestError(AgentCode.MALFORMED_JSON, '"arguments" must be an array', requestId);
  }
  return { command, args: args ?? [], id: requestId };
}
