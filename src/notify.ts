import type { Reply } from '../adapters/types.ts';

/**
 * Unprompted messages from the core. The bot routes them to adapters; a failed delivery is
 * logged there and never undoes what the core already did.
 */
export interface Notifier {
  /** To one person, by identity; the identity's prefix picks the adapter. */
  toUser(identity: string, reply: Reply): Promise<void>;
  /** To the alerts channel of one adapter, or of every adapter when none is named. */
  toAlerts(reply: Reply, adapter?: string): Promise<void>;
}
