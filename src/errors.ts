/**
 * Two paths for failures. A UserFacingError carries text that is safe to show in chat and goes
 * back as-is; anything else is a bug, logged with its context while the user gets a short
 * generic reply that exposes no internals.
 */

export type ErrorCode =
  | 'crewvz.user'
  | 'crewvz.config'
  | 'crewvz.node_unreachable'
  | 'crewvz.database'
  | 'crewvz.unknown';

export class CrewvzError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A mistake or refusal the person in chat can act on; its message is shown to them verbatim. */
export class UserFacingError extends CrewvzError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('crewvz.user', message, options);
  }
}

/**
 * Arguments a command took but something further in refused (an agent's validation); the
 * dispatcher adds the command's usage line to the message.
 */
export class BadArgumentsError extends UserFacingError {}

/** A config file that cannot be used; the message names the key and what to do. */
export class ConfigError extends CrewvzError {
  constructor(message: string) {
    super('crewvz.config', message);
  }
}
