import type { PlanSizing } from './partition-plan.ts';

/** What the last run measured: bytes a worker processed per second of its time. */
export interface Throughput {
  readonly bytesPerSecond: number;
  readonly runId: string;
}

export const THROUGHPUT_FILE = '_sfn-fanout/throughput.json';

export interface AdaptedSizing {
  readonly sizing: PlanSizing;
  /** Set when the measured throughput made partitions smaller. */
  readonly adapted?: { readonly maxPartitionBytes: number; readonly bytesPerSecond: number; readonly fromRun: string };
}

/**
 * Keeps each partition's expected time under half the worker timeout, at the throughput the
 * previous run measured: a target size above that is lowered, a count too small is raised.
 */
export function adaptSizing(sizing: PlanSizing, totalBytes: number, maxPartitions: number, throughput: Throughput | undefined, workerTimeoutSeconds: number): AdaptedSizing {
  if (throughput === undefined || !(throughput.bytesPerSecond > 0) || !(workerTimeoutSeconds > 0) || totalBytes === 0) return { sizing };
  const maxPartitionBytes = Math.max(1, Math.floor((throughput.bytesPerSecond * workerTimeoutSeconds) / 2));
  const adapted = { maxPartitionBytes, bytesPerSecond: throughput.bytesPerSecond, fromRun: throughput.runId };
  if ('partitionBytes' in sizing) {
    return sizing.partitionBytes <= maxPartitionBytes ? { sizing } : { sizing: { partitionBytes: maxPartitionBytes }, adapted };
  }
  const needed = Math.min(maxPartitions, Math.ceil(totalBytes / maxPartitionBytes));
  return needed <= sizing.partitions ? { sizing } : { sizing: { partitions: needed }, adapted };
}

/** The throughput of a finished batch, from its succeeded partitions. */
export function measuredThroughput(outcomes: readonly { status: string; bytes: number; startedAt?: number; finishedAt?: number }[], runId: string): Throughput | undefined {
  let bytes = 0;
  let ms = 0;
  for (const outcome of outcomes) {
    if (outcome.status !== 'succeeded' || outcome.startedAt === undefined || outcome.finishedAt === undefined) continue;
    bytes += outcome.bytes;
    ms += outcome.finishedAt - outcome.startedAt;
  }
  return bytes > 0 && ms > 0 ? { bytesPerSecond: Math.round((bytes / ms) * 1000), runId } : undefined;
}
