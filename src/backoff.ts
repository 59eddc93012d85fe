/**
 * Capped exponential backoff with "equal jitter", for every reconnect (IRC, node agents): the
 * wait for attempt n (0-based) lies between half and all of min(maxMs, minMs * 2^n), so many
 * clients dropped at once do not return together, and none retries at once.
 */
export function backoffMs(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
