import type { ObjectStore } from '../store/object-store.ts';
import { OUTCOME_FILE, REJECTED_FILE, attemptKey, stagedOutputKey, type AttemptRef } from './attempt-output.ts';
import { partitionOutputKey, rejectedKey, runKey, type FailedPartition, type PartitionName, type SucceededPartition } from './outcome.ts';

/** A partition's committed result: which attempt counted, its outcome file and every key it published. */
export interface CommittedPartition {
  readonly id: number;
  readonly split?: string;
  /** The run that ran the attempt: this one, or for a resumed run the one it reused the result of. */
  readonly run: string;
  readonly attempt: string;
  /** The attempt's outcome (counts, result), under the run's files. */
  readonly outcome: string;
  readonly outputs: readonly string[];
  readonly rejected?: string;
}

/**
 * `_sfn-fanout/runs/<run>/manifest.json`, written by the reducer after every commit: the one list
 * a reader of the output needs. Keys are relative to `output`. Files under `partitions/` or
 * `rejected/` that it does not list are not this run's (an earlier run's, or an attempt never
 * counted), whatever their names.
 */
export interface RunManifest {
  readonly runId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output: string;
  /** The plan manifest's key: one partition a line. A resumed run reads the partitions it runs again from it. */
  readonly plan?: string;
  /** The run this one resumed: its committed partitions are listed here with the run that ran them. */
  readonly resumes?: string;
  /** Succeeded partitions (halves of split ones apart), in id order. */
  readonly partitions: readonly CommittedPartition[];
  /** Partitions with no committed output in this run. */
  readonly failed: readonly PartitionName[];
  /** Every key this run committed. */
  readonly committed: readonly string[];
}

export const MANIFEST_FILE = 'manifest.json';

export function manifestKey(runId: string): string {
  return runKey(runId, MANIFEST_FILE);
}

export function attemptOf(runId: string, partition: PartitionName & { readonly attempt: string }): AttemptRef {
  return { runId, partition: { id: partition.id, split: partition.split }, attempt: partition.attempt };
}

/** Where a counted attempt's outcome is: the reducer reads it, a resumed run can reuse it. */
export function outcomeKey(runId: string, partition: PartitionName & { readonly attempt: string }): string {
  return attemptKey(attemptOf(runId, partition), OUTCOME_FILE);
}

/**
 * Publishes the attempt the reducer counted: its staged outputs to `partitions/part-NNNNN/<name>`
 * and its rejected records to `rejected/part-NNNNN.jsonl`. Copies, so a retried reducer commits
 * the same files again; S3 has no rename, and a server-side copy moves no bytes through Lambda.
 * `runId` is the run that holds the attempt (an earlier one, for a result a resumed run reuses).
 */
export async function commitAttempt(store: ObjectStore, runId: string, outcome: SucceededPartition): Promise<CommittedPartition> {
  const ref = attemptOf(runId, outcome);
  const outputs: string[] = [];
  for (const name of outcome.staged) {
    const key = partitionOutputKey(ref.partition, name);
    await store.copy(stagedOutputKey(ref, name), key);
    outputs.push(key);
  }
  const rejected = outcome.rejected > 0 ? rejectedKey(ref.partition) : undefined;
  if (rejected !== undefined) await store.copy(attemptKey(ref, REJECTED_FILE), rejected);
  return {
    id: outcome.id,
    ...(outcome.split === undefined ? {} : { split: outcome.split }),
    run: runId,
    attempt: outcome.attempt,
    outcome: attemptKey(ref, OUTCOME_FILE),
    outputs,
    ...(rejected === undefined ? {} : { rejected }),
  };
}

export function runManifest(
  runId: string,
  status: RunManifest['status'],
  output: string,
  committed: readonly CommittedPartition[],
  failed: readonly FailedPartition[],
  from: { readonly plan?: string | undefined; readonly resumes?: string | undefined } = {},
): RunManifest {
  return {
    runId,
    status,
    output,
    ...(from.plan === undefined ? {} : { plan: from.plan }),
    ...(from.resumes === undefined ? {} : { resumes: from.resumes }),
    partitions: committed,
    failed: failed.map(({ id, split }) => ({ id, ...(split === undefined ? {} : { split }) })),
    committed: committed.flatMap((partition) => [...partition.outputs, ...(partition.rejected === undefined ? [] : [partition.rejected])]),
  };
}
