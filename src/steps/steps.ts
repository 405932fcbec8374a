import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../errors.ts';
import { loadHandler, type LoadedHandler } from '../handler/load-handler.ts';
import { parseJob, type Job, type JobRequest } from '../job.ts';
import { parseLocation } from '../location.ts';
import type { PartitionOutcome, SucceededPartition } from '../partition/outcome.ts';
import { reduceOutcomes, type BatchResult } from '../partition/reduce.ts';
import { runPartition } from '../partition/run-partition.ts';
import { mapItems, resolvePartition, type PartitionItem } from '../plan/map-items.ts';
import { planPartitions } from '../plan/partition-plan.ts';
import { openStore } from '../store/open-store.ts';
import type { StoredObject } from '../store/object-store.ts';

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
  readonly settings?: PartitionSettings;
}

export interface PartitionOutput {
  readonly job: Job;
  readonly plan: { readonly objects: number; readonly bytes: number; readonly partitions: number; readonly cappedAt?: number; readonly manifest?: string };
  readonly items: PartitionItem[];
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
}

export interface StepDeps {
  readonly s3: () => S3Client;
}

export async function partitionStep(event: PartitionEvent, deps: StepDeps): Promise<PartitionOutput> {
  const job = parseJob(event.request ?? {});
  const settings = parseSettings(event.settings ?? {});
  const source = openStore(parseLocation(job.input, 'input'), deps.s3);
  const destination = openStore(parseLocation(job.output, 'output'), deps.s3);
  const listing: StoredObject[] = [];
  for await (const object of source.list()) listing.push(object);
  const plan = planPartitions(listing, { sizing: job.sizing, maxPartitions: job.maxPartitions });
  const { items, manifest } = await mapItems(plan, destination);
  return {
    job,
    plan: {
      objects: plan.objects,
      bytes: plan.bytes,
      partitions: plan.partitions.length,
      ...(plan.cappedAt === undefined ? {} : { cappedAt: plan.cappedAt }),
      ...(manifest === undefined ? {} : { manifest }),
    },
    items,
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

export interface WorkEvent {
  readonly job: Job;
  readonly item: PartitionItem;
}

export interface WorkDeps extends StepDeps {
  readonly handler: () => Promise<LoadedHandler>;
}

export async function workStep(event: WorkEvent, deps: WorkDeps): Promise<SucceededPartition> {
  const { job } = event;
  const source = openStore(parseLocation(job.input, 'input'), deps.s3);
  const destination = openStore(parseLocation(job.output, 'output'), deps.s3);
  return runPartition({
    partition: await resolvePartition(event.item, destination),
    format: job.format,
    maxRejected: job.maxRejected,
    source,
    destination,
    handler: await deps.handler(),
  });
}

export interface ReduceEvent {
  readonly job: Job;
  readonly results: readonly PartitionOutcome[];
  readonly toleratedFailurePercentage: number;
}

export async function reduceStep(event: ReduceEvent, deps: WorkDeps): Promise<BatchResult> {
  const handler = await deps.handler();
  const batch = reduceOutcomes(event.results, handler.merge, event.toleratedFailurePercentage);
  // The whole batch, partition outcomes included, for readers that cannot see the execution's payloads.
  const destination = openStore(parseLocation(event.job.output, 'output'), deps.s3);
  await destination.write('_sfn-fanout/batch.json', JSON.stringify({ ...batch, outcomes: event.results }, null, 2));
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
