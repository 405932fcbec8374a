/** What one worker reports for its partition; both engines carry these to the reducer and report. */

export interface RejectedSample {
  readonly key: string;
  readonly offset: number;
  readonly message: string;
}

export interface SucceededPartition {
  readonly id: number;
  readonly status: 'succeeded';
  readonly bytes: number;
  readonly records: number;
  readonly rejected: number;
  readonly rejectedSamples: readonly RejectedSample[];
  readonly outputs: readonly string[];
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly result: unknown;
}

/** What a worker returns through the Map: small, so 1,000 of them fit the 256 KiB payload limit. */
export type PartitionSummary = Omit<SucceededPartition, 'result' | 'rejectedSamples' | 'outputs'>;

/** Made by the state machine's Catch from the worker's error. */
export interface FailedPartition {
  readonly id: number;
  readonly status: 'failed';
  readonly bytes: number;
  readonly error: string;
  readonly cause: string;
}

export type PartitionOutcome = SucceededPartition | FailedPartition;

/** One Map iteration's output. */
export type MapResult = PartitionSummary | FailedPartition;

export const MAX_REJECTED_SAMPLES = 10;

/** Output keys are a pure function of the partition id, so a re-run overwrites, never duplicates. */
export function partitionOutputKey(partitionId: number, name: string): string {
  const safe = name.replace(/\\/g, '/');
  if (safe === '' || safe.startsWith('/') || safe.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new Error(`Output name "${name}" must be a relative path without "." or ".." parts, like "counts.json".`);
  }
  return `partitions/part-${String(partitionId).padStart(5, '0')}/${safe}`;
}

export function rejectedKey(partitionId: number): string {
  return `rejected/part-${String(partitionId).padStart(5, '0')}.jsonl`;
}

/** Where one execution keeps its bookkeeping under the output location. */
export function runKey(runId: string, name: string): string {
  return `_sfn-fanout/runs/${runId}/${name}`;
}

export function partitionDetailKey(runId: string, partitionId: number): string {
  return runKey(runId, `partitions/part-${String(partitionId).padStart(5, '0')}.json`);
}

export const BATCH_FILE = 'batch.json';
