import { randomUUID } from 'node:crypto';
import type { ObjectStore } from '../store/object-store.ts';
import { outputName, partitionLabel, partitionOutputKey, runKey, type PartitionName } from './outcome.ts';

/**
 * One attempt at one partition. A partition can be attempted more than once (Lambda retries, a
 * timeout that Step Functions gave up on while the function ran on), so every attempt writes apart
 * from the others, and only the attempt whose result the reducer counts is ever published.
 */
export interface AttemptRef {
  readonly runId: string;
  readonly partition: PartitionName;
  readonly attempt: string;
}

/** 12 hex digits (48 random bits): unique among one partition's attempts. */
export function newAttemptId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

/**
 * Every file of an attempt starts with `_sfn-fanout/runs/<run>/attempts/part-NNNNN.<attempt>`:
 * `.json` (its outcome), `.rejected.jsonl`, and `/<name>` for each output. A partition's attempts
 * share the prefix `attempts/part-NNNNN.`, and an attempt with no outputs makes no directory.
 */
export function attemptKey(ref: AttemptRef, suffix: AttemptFile): string {
  return runKey(ref.runId, `attempts/part-${partitionLabel(ref.partition)}.${ref.attempt}${suffix}`);
}

export type AttemptFile = typeof OUTCOME_FILE | typeof REJECTED_FILE | `/${string}`;
export const OUTCOME_FILE = '.json';
export const REJECTED_FILE = '.rejected.jsonl';

/** Where an attempt stages an output the handler named. */
export function stagedOutputKey(ref: AttemptRef, name: string): string {
  return attemptKey(ref, `/${outputName(name)}`);
}

/**
 * Everything an attempt writes: the handler's outputs and the rejected records. It all goes under
 * the attempt (like a Spark task-attempt directory, or the S3A magic committer's pending uploads) and
 * becomes visible under `partitions/` and `rejected/` only when the reducer commits the attempt.
 */
export class AttemptOutput {
  readonly ref: AttemptRef;
  readonly #store: ObjectStore;
  readonly #staged: string[] = [];
  /** Every write started and not yet settled, from the moment it starts: a handler need not await one. */
  readonly #pending = new Set<Promise<void>>();
  /** The last write of each name, so a name written again ends as its last write, whichever finishes first. */
  readonly #lastWrite = new Map<string, Promise<unknown>>();
  #failure: unknown;
  #closed = false;

  constructor(store: ObjectStore, ref: AttemptRef) {
    this.#store = store;
    this.ref = ref;
  }

  /** Stages an output; returns the URI it will have once committed. Writing a name again replaces it. */
  writeOutput(name: string, body: string | Uint8Array): Promise<string> {
    if (this.#closed) {
      return Promise.reject(new Error(`Output "${name}" was written after partition ${partitionLabel(this.ref.partition)} had returned its result: it would never be committed. Write every output before processPartition or finish returns (await each writeOutput, or return its promise).`));
    }
    let safe: string;
    try {
      safe = outputName(name);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.#staged.includes(safe)) this.#staged.push(safe);
    const previous = this.#lastWrite.get(safe) ?? Promise.resolve();
    const write = previous.then(
      () => this.#store.write(stagedOutputKey(this.ref, safe), body),
      () => this.#store.write(stagedOutputKey(this.ref, safe), body),
    );
    this.#lastWrite.set(safe, write);
    // Tracked with a handler of its own, so a write the handler never awaits is neither lost nor an unhandled rejection.
    const tracked = write.then(
      () => void this.#pending.delete(tracked),
      (error: unknown) => {
        this.#pending.delete(tracked);
        this.#failure ??= error;
      },
    );
    this.#pending.add(tracked);
    return write.then(() => this.#store.uriOf(partitionOutputKey(this.ref.partition, safe)));
  }

  /**
   * Waits for every write started so far, also those the handler did not await (and any they
   * start meanwhile), then refuses new ones; fails if any write failed. The partition's outcome,
   * which lists what the reducer commits, is built only after this.
   */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
    this.#closed = true;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Stages the attempt's rejected records, one JSON document a line. */
  async writeRejected(lines: string): Promise<void> {
    await this.#store.write(attemptKey(this.ref, REJECTED_FILE), lines);
  }

  /** The output names staged so far, in the order first written. */
  get staged(): readonly string[] {
    return [...this.#staged];
  }

  /** URIs the staged outputs will have once committed. */
  get committedUris(): string[] {
    return this.#staged.map((name) => this.#store.uriOf(partitionOutputKey(this.ref.partition, name)));
  }
}
