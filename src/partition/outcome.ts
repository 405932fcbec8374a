/** What one worker reports for its partition; both engines carry these to the reducer and report. */

export interface RejectedSample {
  readonly key: string;
  readonly offset: number;
  readonly message: string;
}

export interface SucceededPartition {
  readonly id: number;
  readonly split?: string;
  readonly status: 'succeeded';
  /** Which attempt at the partition this is: its files are staged under it until the reducer commits them. */
  readonly attempt: string;
  readonly bytes: number;
  readonly records: number;
  readonly rejected: number;
  readonly rejectedSamples: readonly RejectedSample[];
  /** Where the outputs are once committed (URIs). */
  readonly outputs: readonly string[];
  /** The names the handler wrote outputs under, staged in the attempt until it is committed. */
  readonly staged: readonly string[];
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly result: unknown;
  /** Set by the reducer of a resumed run on a partition it did not run again: the run whose attempt counts. */
  readonly ranIn?: string;
}

/**
 * What a worker returns through the Map for a partition it ran: which attempt to count and how many
 * records it read; the rest is in the attempt's outcome file. About 90 bytes, so even 1,000
 * partitions all split in two (2,000 results) stay under the 256 KiB payload limit.
 */
export type PartitionSummary = Pick<SucceededPartition, 'id' | 'split' | 'status' | 'attempt' | 'records'>;

/** A partition's failure in full: the worker's outcome file, or the reducer's account of a failure known only by name. */
export interface FailedPartition {
  readonly id: number;
  readonly split?: string;
  readonly status: 'failed';
  readonly bytes: number;
  readonly error: string;
  /** The error as Lambda reports one: a JSON document with errorType, errorMessage and trace. */
  readonly cause: string;
  /** The attempt that failed, when the worker caught the error itself and wrote this as its outcome file. */
  readonly attempt?: string;
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

/**
 * A failure as it travels through the Map: the error's name and nothing of unbounded size. With
 * `attempt`, the worker caught the error and its outcome file holds the whole of it; without, the
 * state machine's Catch made it (a timeout, a crash, throttling) and the name is what is known.
 */
export interface FailedSummary {
  readonly id: number;
  readonly split?: string;
  readonly status: 'failed';
  readonly bytes: number;
  readonly error: string;
  readonly attempt?: string;
  /** Only from a Distributed Map's result files, which are not state: what AWS said about a child that failed. */
  readonly cause?: string;
}

/** An error name in a summary is cut to this: names come from handlers too, and a summary must stay small. */
export const SUMMARY_ERROR_NAME_CHARS = 32;

export type PartitionOutcome = SucceededPartition | FailedPartition;

/** A whole batch of partitions that failed together (its child ran out of time, say). */
export interface BatchFailure {
  readonly status: 'failed';
  readonly batch: readonly { readonly id: number; readonly bytes: number }[];
  readonly error: string;
  readonly cause: string;
}

/** One Map iteration's output: a partition, the two halves of one split after a timeout, a batch's partitions, or a failed batch. */
export type MapResult = PartitionSummary | FailedSummary | BatchFailure | readonly (PartitionSummary | FailedSummary)[];

/** Every partition's result in a list of iteration results. */
export function partitionResults(results: readonly MapResult[]): (PartitionSummary | FailedSummary)[] {
  return results.flatMap((result): (PartitionSummary | FailedSummary)[] => {
    if (Array.isArray(result)) return [...(result as readonly (PartitionSummary | FailedSummary)[])];
    if ('batch' in (result as object)) {
      const { batch, error, cause } = result as BatchFailure;
      return batch.map(({ id, bytes }) => ({ id, status: 'failed' as const, bytes, error, cause }));
    }
    return [result as PartitionSummary | FailedSummary];
  });
}

/** Which partition (or half of one) a file belongs to. */
export interface PartitionName {
  readonly id: number;
  readonly split?: string | undefined;
}

/** `00003`, or `00003-1` for the first half of partition 3. */
export function partitionLabel({ id, split }: PartitionName): string {
  return `${String(id).padStart(5, '0')}${split === undefined ? '' : `-${split}`}`;
}

export const MAX_REJECTED_SAMPLES = 10;

/**
 * A handler's output name as a relative key, `/`-separated; anything else is refused. A backslash
 * is refused, not read as `/`: `a\b.txt` and `a/b.txt` would otherwise be one key, the second write
 * silently replacing the first.
 */
export function outputName(name: string): string {
  if (name.includes('\\')) {
    throw new Error(`Output name "${name}" has a backslash: use / to make folders, and take backslashes out of names built from data (like DOMAIN\\user), so two names never become one file.`);
  }
  if (name === '' || name.startsWith('/') || name.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new Error(`Output name "${name}" must be a relative path without "." or ".." parts, like "counts.json".`);
  }
  return name;
}

/** Output keys are a pure function of the partition id and the name: a re-run with the same partitions writes the same keys. */
export function partitionOutputKey(partition: PartitionName, name: string): string {
  return `partitions/part-${partitionLabel(partition)}/${outputName(name)}`;
}

export function rejectedKey(partition: PartitionName): string {
  return `rejected/part-${partitionLabel(partition)}.jsonl`;
}

/** Where one execution keeps its bookkeeping under the output location. */
export function runKey(runId: string, name: string): string {
  return `_sfn-fanout/runs/${runId}/${name}`;
}

export const BATCH_FILE = 'batch.json';
