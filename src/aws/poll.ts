import { CancelledError, FanoutError, errorMessage } from '../errors.ts';
import { fullJitterDelay, isTransient } from './backoff.ts';
import type { Clock } from './clock.ts';

/** When a wait gives up. */
export interface PollLimits {
  readonly deadlineMs: number;
  /** Transient failures (throttling, a 5xx, the network) tolerated in a row. */
  readonly maxTransientFailures: number;
}

export interface PollOptions<T> extends PollLimits {
  readonly clock: Clock;
  readonly signal?: AbortSignal | undefined;
  readonly random?: (() => number) | undefined;
  readonly firstDelayMs: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** What is waited for, as the messages name it: "stack fanout". */
  readonly what: string;
  /** Where it stands, from the last value read (undefined before the first). */
  readonly status: (last: T | undefined) => string;
  /** What to do when the deadline passes. */
  readonly onDeadline: string;
}

/**
 * Reads until `done` accepts a value, with capped exponential backoff and full jitter. A deadline,
 * a cap on consecutive transient failures and the abort signal each end the wait with an error
 * that says where things stand; the signal also ends a sleep at once.
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, options: PollOptions<T>): Promise<T> {
  const { clock, signal } = options;
  const started = clock.now();
  let last: T | undefined;
  let failures = 0;
  const aborted = (): boolean => signal?.aborted === true;
  for (let attempt = 0; !aborted(); attempt += 1) {
    try {
      last = await read();
      failures = 0;
      if (done(last)) return last;
    } catch (error) {
      if (aborted()) break;
      if (!isTransient(error)) throw error;
      if (++failures > options.maxTransientFailures) {
        throw new FanoutError(`Gave up waiting for ${options.what} after ${failures} failed calls in a row: ${errorMessage(error)}`, { cause: error });
      }
    }
    if (clock.now() - started >= options.deadlineMs) {
      throw new FanoutError(`${options.what} is still ${options.status(last)} after ${Math.round(options.deadlineMs / 60_000)} min: stopped waiting. ${options.onDeadline}`);
    }
    await clock.sleep(Math.max(options.minDelayMs, fullJitterDelay(attempt, options.firstDelayMs, options.maxDelayMs, options.random)), signal);
  }
  throw new CancelledError(`Cancelled while waiting for ${options.what} (${options.status(last)}).`);
}
