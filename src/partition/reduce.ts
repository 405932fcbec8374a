import { MergeError } from '../errors.ts';
import { mergeInto } from '../handler/merge.ts';
import type { FailedPartition, PartitionCounts, PartitionOutcome, SucceededPartition } from './outcome.ts';

/**
 * How many partitions, records and bytes a batch had. `records` counts records read (handed to
 * the handler, or rejected because they did not parse), `handed` those the handler was given,
 * `rejected` those rejected for either reason; failed partitions count when their failure said
 * how many they read (a partition over max-rejected does).
 */
export interface BatchCounts {
  readonly partitions: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly records: number;
  readonly handed: number;
  readonly rejected: number;
  readonly bytes: number;
}

export interface BatchResult extends BatchCounts {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly toleratedFailurePercentage: number;
  /** The handler's results merged in partition order; null when no partition succeeded. */
  readonly result: unknown;
  readonly failures: readonly Pick<FailedPartition, 'id' | 'error' | 'cause'>[];
}

/** A handler's own merge; the reducer awaits it when it returns a promise. */
export type UserMerge = (a: unknown, b: unknown) => unknown;

/** Partitions in id order, a split one's halves in order: the order results are merged in. */
export function partitionOrder(a: { id: number; split?: string | undefined }, b: { id: number; split?: string | undefined }): number {
  return a.id - b.id || (a.split ?? '').localeCompare(b.split ?? '');
}

/**
 * Folds partition results, given in partition order, into one. The default merge goes into one
 * accumulator the fold owns, which costs the results' total size however many partitions there
 * are. A handler's own merge may copy its inputs, so it is applied pairwise as a balanced tree
 * (merge(p0, p1), merge(p2, p3), then merge of those...): each key is copied about log2(N)
 * times, not N times. Either way at most log2(N) partial results are held, so results can be
 * dropped as soon as they are added.
 */
export interface ResultFold {
  add(result: unknown): Promise<void>;
  result(): Promise<unknown>;
}

export function resultFold(merge: UserMerge | undefined): ResultFold {
  return merge === undefined ? accumulating() : pairwise(merge);
}

function accumulating(): ResultFold {
  let total: unknown = null;
  return {
    add: async (result) => {
      total = mergeInto(total, result);
    },
    result: async () => total ?? null,
  };
}

/** A binary counter of merged runs: the run at level k merges 2^k neighbouring results. */
function pairwise(userMerge: UserMerge): ResultFold {
  const merge = async (a: unknown, b: unknown): Promise<unknown> => mergedValue(await userMerge(a, b));
  const runs: { level: number; value: unknown }[] = [];
  return {
    add: async (result) => {
      let run = { level: 0, value: result };
      while (runs.length > 0 && runs.at(-1)!.level === run.level) {
        const left = runs.pop()!;
        run = { level: run.level + 1, value: await merge(left.value, run.value) };
      }
      runs.push(run);
    },
    result: async () => {
      if (runs.length === 0) return null;
      let value = runs.pop()!.value;
      while (runs.length > 0) value = await merge(runs.pop()!.value, value);
      return value ?? null;
    },
  };
}

/**
 * A handler's merge must return JSON data: undefined, a function or a symbol would become a null
 * result, and NaN or Infinity a null number, with the run SUCCEEDED and nothing said.
 */
function mergedValue(value: unknown): unknown {
  const kind = value === undefined ? 'undefined' : typeof value === 'function' ? 'a function' : typeof value === 'symbol' ? 'a symbol' : typeof value === 'number' && !Number.isFinite(value) ? String(value) : undefined;
  if (kind !== undefined) throw new MergeError(`The handler's merge(a, b) returned ${kind}: it must return the merged result as JSON data (an object, array, string, finite number, boolean or null). Check that every path of merge returns a value.`);
  return value;
}

/** What is counted of a partition: outcomes, and the Map summaries a report falls back on (their bytes can be unknown). */
type Counted = Pick<PartitionOutcome, 'status'> & Partial<PartitionCounts> & { readonly bytes?: number };

/** Totals over outcomes (results left out): what both the batch file and the report count. */
export function countOutcomes(outcomes: readonly Counted[]): BatchCounts {
  let succeeded = 0;
  let records = 0;
  let handed = 0;
  let rejected = 0;
  let bytes = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'succeeded') succeeded += 1;
    records += outcome.records ?? 0;
    handed += outcome.handed ?? 0;
    rejected += outcome.rejected ?? 0;
    bytes += outcome.bytes ?? 0;
  }
  return { partitions: outcomes.length, succeeded, failed: outcomes.length - succeeded, records, handed, rejected, bytes };
}

/** The batch fails when the share of failed partitions exceeds the tolerance. */
export function batchStatus(counts: BatchCounts, toleratedFailurePercentage: number): BatchResult['status'] {
  return counts.partitions > 0 && (counts.failed / counts.partitions) * 100 > toleratedFailurePercentage ? 'FAILED' : 'SUCCEEDED';
}

/**
 * Merges succeeded partitions in id order (so the result does not depend on finishing order) and
 * decides the batch status. The reducer streams outcomes through a ResultFold instead; this is the
 * same for outcomes already in memory.
 */
export async function reduceOutcomes(outcomes: readonly PartitionOutcome[], merge: UserMerge | undefined, toleratedFailurePercentage: number): Promise<BatchResult> {
  const sorted = [...outcomes].sort(partitionOrder);
  const fold = resultFold(merge);
  for (const outcome of sorted) if (outcome.status === 'succeeded') await fold.add((outcome as SucceededPartition).result);
  const counts = countOutcomes(sorted);
  return {
    status: batchStatus(counts, toleratedFailurePercentage),
    ...counts,
    toleratedFailurePercentage,
    result: await fold.result(),
    failures: failuresOf(sorted),
  };
}

export function failuresOf(outcomes: readonly PartitionOutcome[]): BatchResult['failures'] {
  return outcomes.filter((outcome): outcome is FailedPartition => outcome.status === 'failed').map(({ id, error, cause }) => ({ id, error, cause }));
}
