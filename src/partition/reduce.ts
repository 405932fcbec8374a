import type { FailedPartition, PartitionOutcome, SucceededPartition } from './outcome.ts';

/** How many partitions, records and bytes a batch had; records and rejected count succeeded partitions. */
export interface BatchCounts {
  readonly partitions: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly records: number;
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

/**
 * Merges succeeded partitions in id order (so the result does not depend on finishing order) and
 * decides the batch status: it fails when the share of failed partitions exceeds the tolerance.
 */
export function reduceOutcomes(
  outcomes: readonly PartitionOutcome[],
  merge: (a: unknown, b: unknown) => unknown,
  toleratedFailurePercentage: number,
): BatchResult {
  const sorted = [...outcomes].sort((a, b) => a.id - b.id || (a.split ?? '').localeCompare(b.split ?? ''));
  const succeeded = sorted.filter((outcome): outcome is SucceededPartition => outcome.status === 'succeeded');
  const failures = sorted
    .filter((outcome): outcome is FailedPartition => outcome.status === 'failed')
    .map(({ id, error, cause }) => ({ id, error, cause }));
  let result: unknown = null;
  succeeded.forEach((partition, index) => {
    result = index === 0 ? partition.result : merge(result, partition.result);
  });
  const overTolerance = sorted.length > 0 && (failures.length / sorted.length) * 100 > toleratedFailurePercentage;
  return {
    status: overTolerance ? 'FAILED' : 'SUCCEEDED',
    partitions: sorted.length,
    succeeded: succeeded.length,
    failed: failures.length,
    records: succeeded.reduce((sum, partition) => sum + partition.records, 0),
    rejected: succeeded.reduce((sum, partition) => sum + partition.rejected, 0),
    bytes: sorted.reduce((sum, partition) => sum + partition.bytes, 0),
    toleratedFailurePercentage,
    result,
    failures,
  };
}
