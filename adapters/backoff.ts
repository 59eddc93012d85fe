/** Moved to src/backoff.ts, shared with the agent client; kept for existing imports. */
export { backoffMs } from '../src/backoff.ts';
