/**
 * Holds one driver method open until the test lets it go, so tests can see what the agent does
 * while an operation runs (busy VE, out-of-order answers, timeouts). Everything else goes to
 * the real sim driver untouched.
 */
import type { Driver } from '../../agent/driver.ts';

export interface Gate {
  wrap(driver: Driver): Driver;
  /** The next calls of `method` wait until release(). */
  hold(method: keyof Driver): void;
  release(): void;
  /** Resolves once a held call has arrived. */
  entered: () => Promise<void>;
  /** Makes the next call of `method` throw `error` instead of running. */
  failNext(method: keyof Driver, error: Error): void;
}

export function makeGate(): Gate {
  let held: keyof Driver | null = null;
  let open: Promise<void> = Promise.resolve();
  let release = (): void => undefined;
  let arrived: () => void = () => undefined;
  let arrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const failures = new Map<keyof Driver, Error>();

  return {
    wrap(driver) {
      return new Proxy(driver, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') {
            return value;
          }
          const method = prop as keyof Driver;
          return async (...args: unknown[]) => {
            const failure = failures.get(method);
            if (failure) {
              failures.delete(method);
              throw failure;
            }
            if (held === method) {
              arrived();
              await open;
            }
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    },
    hold(method) {
      held = method;
      arrival = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      open = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    release() {
      held = null;
      release();
    },
    entered: () => arrival,
    failNext(method, error) {
      failures.set(method, error);
    },
  };
}
