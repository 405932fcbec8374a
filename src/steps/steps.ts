import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../errors.ts';
import { loadHandler, type LoadedHandler } from '../handler/load-handler.ts';
import { parseJob, type Job, type JobRequest } from '../job.ts';
import { parseLocation } from '../location.ts';
import {
  BATCH_FILE,
  partitionDetailKey,
  runKey,
  type MapResult,
  type PartitionOutcome,
  type PartitionSummary,
  type SucceededPartition,
} from '../partition/outcome.ts';
import { reduceOutcomes, type BatchResult } from '../partition/reduce.ts';
import { runPartition } from '../partition/run-partition.ts';
import { mapItems, resolvePartition, type PartitionItem } from '../plan/map-items.ts';
import { planPartitions } from '../plan/partition-plan.ts';
import type { ObjectStore, StoredObject } from '../store/object-store.ts';
import { openStore } from '../store/open-store.ts';

/**
 * The three steps of the state machine, as plain async functions of their event. The Lambda
 * handlers in lambdas/ are one-line wrappers; the local engine runs the same wrappers.
 */

/** Deploy-time settings the state machine passes to the partitioner (strings: they come from DefinitionSubstitutions). */
export interface PartitionSettings {
  readonly maxConcurrency?: string | number;
  readonly toleratedFailurePercentage?: string | number;
}

export interface PartitionEvent {
  readonly request: JobRequest;
  /** The execution's name: results of one execution never mix with another's. */
  readonly runId: string;
  readonly settings?: PartitionSettings;
}

export interface PlanSummary {
  readonly objects: number;
  readonly bytes: number;
  readonly partitions: number;
  readonly cappedAt?: number;
  readonly manifest?: string;
}

export interface PartitionOutput {
  readonly job: Job;
  readonly runId: string;
  readonly plan: PlanSummary;
  /** The Map's items; the Map replaces them with its results. */
  readonly partitions: PartitionItem[];
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
}

export interface StepDeps {
  readonly s3: () => S3Client;
}

export async function partitionStep(event: PartitionEvent, deps: StepDeps): Promise<PartitionOutput> {
  const job = parseJob(event.request ?? {});
  const settings = parseSettings(event.settings ?? {});
  const runId = parseRunId(event.runId);
  const { source, destination } = stores(job, deps);
  const listing: StoredObject[] = [];
  for await (const object of source.list()) listing.push(object);
  const plan = planPartitions(listing, { sizing: job.sizing, maxPartitions: job.maxPartitions });
  const { items, manifest } = await mapItems(plan, destination);
  return {
    job,
    runId,
    plan: {
      objects: plan.objects,
      bytes: plan.bytes,
      partitions: plan.partitions.length,
      ...(plan.cappedAt === undefined ? {} : { cappedAt: plan.cappedAt }),
      ...(manifest === undefined ? {} : { manifest }),
    },
    partitions: items,
    ...settings,
  };
}

function parseSettings(settings: PartitionSettings): { maxConcurrency: number; toleratedFailurePercentage: number } {
  const maxConcurrency = Number(settings.maxConcurrency ?? 0);
  const toleratedFailurePercentage = Number(settings.toleratedFailurePercentage ?? 0);
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 0) {
    throw new InputError(`MaxConcurrency "${settings.maxConcurrency}" must be a whole number, 0 for as many as the Map allows.`);
  }
  if (!(toleratedFailurePercentage >= 0 && toleratedFailurePercentage <= 100)) {
    throw new InputError(`ToleratedFailurePercentage "${settings.toleratedFailurePercentage}" must be a number from 0 to 100.`);
  }
  return { maxConcurrency, toleratedFailurePercentage };
}

function parseRunId(runId: unknown): string {
  // Step Functions execution names: 1-80 characters, no spaces, slashes or wildcards.
  if (typeof runId !== 'string' || !/^[A-Za-z0-9_.-]{1,80}$/.test(runId)) {
    throw new InputError(`runId ${JSON.stringify(runId)} is not an execution name: pass $$.Execution.Name in the Partition state's Payload.`);
  }
  return runId;
}

function stores(job: Job, deps: StepDeps): { source: ObjectStore; destination: ObjectStore } {
  return {
    source: openStore(parseLocation(job.input, 'input'), deps.s3),
    destination: openStore(parseLocation(job.output, 'output'), deps.s3),
  };
}

export interface WorkEvent {
  readonly job: Job;
  readonly runId: string;
  readonly item: PartitionItem;
}

export interface WorkDeps extends StepDeps {
  readonly handler: () => Promise<LoadedHandler>;
}

/** Runs one partition; the full outcome goes to the output store, a summary back through the Map. */
export async function workStep(event: WorkEvent, deps: WorkDeps): Promise<PartitionSummary> {
  const { job, runId } = event;
  const { source, destination } = stores(job, deps);
  const outcome = await runPartition({
    partition: await resolvePartition(event.item, destination),
    format: job.format,
    maxRejected: job.maxRejected,
    source,
    destination,
    handler: await deps.handler(),
  });
  await destination.write(partitionDetailKey(parseRunId(runId), outcome.id), JSON.stringify(outcome));
  const { result: _result, rejectedSamples: _samples, outputs: _outputs, ...summary } = outcome;
  return summary;
}

export interface ReduceEvent {
  readonly job: Job;
  readonly runId: string;
  readonly plan: PlanSummary;
  readonly partitions: readonly MapResult[];
  readonly toleratedFailurePercentage: number;
}

/** The batch file: the batch result and every partition's outcome, read by both engines' reports. */
export interface BatchFile extends BatchResult {
  readonly runId: string;
  readonly job: Job;
  readonly plan: PlanSummary;
  readonly outcomes: readonly PartitionOutcome[];
}

const DETAIL_READS_IN_FLIGHT = 16;

export async function reduceStep(event: ReduceEvent, deps: WorkDeps): Promise<BatchResult> {
  const handler = await deps.handler();
  const runId = parseRunId(event.runId);
  const { destination } = stores(event.job, deps);
  const outcomes = await mapLimited(event.partitions, DETAIL_READS_IN_FLIGHT, async (entry): Promise<PartitionOutcome> =>
    entry.status === 'failed' ? entry : readJson<SucceededPartition>(destination, partitionDetailKey(runId, entry.id)),
  );
  const batch = reduceOutcomes(outcomes, handler.merge, event.toleratedFailurePercentage);
  // Per-partition results stay in their own files; the merged one is in `result`.
  const lean = outcomes.map((outcome) => (outcome.status === 'succeeded' ? { ...outcome, result: null } : outcome));
  const file: BatchFile = { ...batch, runId, job: event.job, plan: event.plan, outcomes: lean };
  await destination.write(runKey(runId, BATCH_FILE), JSON.stringify(file));
  return batch;
}

export async function readJson<T>(store: ObjectStore, key: string): Promise<T> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.read(key)) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** The user handler module a Lambda runs: `SFN_FANOUT_HANDLER`, loaded once per container. */
export function handlerFromEnv(env: NodeJS.ProcessEnv = process.env): () => Promise<LoadedHandler> {
  let loaded: Promise<LoadedHandler> | undefined;
  return () => {
    const modulePath = env.SFN_FANOUT_HANDLER;
    if (modulePath === undefined || modulePath === '') {
      return Promise.reject(new InputError('SFN_FANOUT_HANDLER is not set: it must name the handler module the worker runs.'));
    }
    return (loaded ??= loadHandler(modulePath));
  };
}
