import type { S3Client } from '@aws-sdk/client-s3';
import { mapLimited } from '../concurrency.ts';
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
import { planPartitions, type PartitionPlan } from '../plan/partition-plan.ts';
import { readMapRunResults, type DistributedMapOutput } from './map-run-results.ts';
import type { ObjectStore, StoredObject } from '../store/object-store.ts';
import { openStore } from '../store/open-store.ts';
import { readJson } from '../store/read-json.ts';

/**
 * The three steps of the state machine, as plain async functions of their event. The Lambda
 * handlers in lambdas/ are one-line wrappers; the local engine runs the same wrappers.
 */

/** Deploy-time settings the state machine passes to the partitioner (strings: they come from DefinitionSubstitutions). */
export interface PartitionSettings {
  readonly maxConcurrency?: string | number;
  readonly toleratedFailurePercentage?: string | number;
  readonly mapMode?: string;
}

export type MapMode = 'INLINE' | 'DISTRIBUTED';

/** Where a Distributed Map's ItemReader finds the plan: `bucket` is "local" for a directory output. */
export interface ManifestLocation {
  readonly bucket: string;
  readonly key: string;
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
  /** The Map's items (Inline); the Map replaces them with its results. Empty in Distributed mode. */
  readonly partitions: PartitionItem[];
  /** The plan as JSONL, one partition a line: the Distributed Map's ItemReader reads it. */
  readonly manifest?: ManifestLocation;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
}

export interface StepDeps {
  readonly s3: () => S3Client;
}

/** Lists the input (sizes only) and plans its partitions. */
export async function planJob(job: Job, deps: StepDeps): Promise<PartitionPlan> {
  const source = openStore(parseLocation(job.input, 'input'), deps.s3);
  const listing: StoredObject[] = [];
  for await (const object of source.list()) listing.push(object);
  return planPartitions(listing, { sizing: job.sizing, maxPartitions: job.maxPartitions });
}

export async function partitionStep(event: PartitionEvent, deps: StepDeps): Promise<PartitionOutput> {
  const job = parseJob(event.request ?? {});
  const settings = parseSettings(event.settings ?? {});
  const runId = parseRunId(event.runId);
  const { destination } = stores(job, deps);
  const plan = await planJob(job, deps);
  const distributed = settings.mapMode === 'DISTRIBUTED';
  // Distributed: the manifest is always written, and its lines are the items.
  const { items, manifest, manifestKey } = await mapItems(plan, destination, distributed ? -1 : undefined);
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
    partitions: distributed ? [] : items,
    ...(distributed && manifestKey !== undefined ? { manifest: manifestLocation(job, manifestKey) } : {}),
    maxConcurrency: settings.maxConcurrency,
    toleratedFailurePercentage: settings.toleratedFailurePercentage,
  };
}

function manifestLocation(job: Job, key: string): ManifestLocation {
  const output = parseLocation(job.output, 'output');
  return output.kind === 's3' ? { bucket: output.bucket, key: output.prefix + key } : { bucket: 'local', key };
}

function parseSettings(settings: PartitionSettings): { maxConcurrency: number; toleratedFailurePercentage: number; mapMode: MapMode } {
  const maxConcurrency = Number(settings.maxConcurrency ?? 0);
  const toleratedFailurePercentage = Number(settings.toleratedFailurePercentage ?? 0);
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 0) {
    throw new InputError(`MaxConcurrency "${settings.maxConcurrency}" must be a whole number, 0 for as many as the Map allows.`);
  }
  if (!(toleratedFailurePercentage >= 0 && toleratedFailurePercentage <= 100)) {
    throw new InputError(`ToleratedFailurePercentage "${settings.toleratedFailurePercentage}" must be a number from 0 to 100.`);
  }
  const mapMode = settings.mapMode ?? 'INLINE';
  if (mapMode !== 'INLINE' && mapMode !== 'DISTRIBUTED') throw new InputError(`MapMode "${mapMode}" must be INLINE or DISTRIBUTED.`);
  return { maxConcurrency, toleratedFailurePercentage, mapMode };
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
  /** The Inline Map's results, or where a Distributed Map's ResultWriter put them. */
  readonly partitions: readonly MapResult[] | DistributedMapOutput;
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
  const results = Array.isArray(event.partitions) ? event.partitions : await readMapRunResults(event.job, event.partitions as DistributedMapOutput, deps);
  const outcomes = await mapLimited(results, DETAIL_READS_IN_FLIGHT, async (entry): Promise<PartitionOutcome> =>
    entry.status === 'failed' ? entry : readJson<SucceededPartition>(destination, partitionDetailKey(runId, entry.id)),
  );
  const batch = reduceOutcomes(outcomes, handler.merge, event.toleratedFailurePercentage);
  // Per-partition results stay in their own files; the merged one is in `result`.
  const lean = outcomes.map((outcome) => (outcome.status === 'succeeded' ? { ...outcome, result: null } : outcome));
  const file: BatchFile = { ...batch, runId, job: event.job, plan: event.plan, outcomes: lean };
  await destination.write(runKey(runId, BATCH_FILE), JSON.stringify(file));
  return batch;
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
