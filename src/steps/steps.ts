import { mapInOrder, mapLimited } from '../concurrency.ts';
import { InputError, RejectedRecordsError } from '../errors.ts';
import { serializeError } from '../lambda-error.ts';
import { loadHandler, type LoadedHandler } from '../handler/load-handler.ts';
import { parseJob, type Job, type JobRequest } from '../job.ts';
import { parseInputLocation, parseLocation } from '../location.ts';
import { AttemptOutput, OUTCOME_FILE, attemptKey, newAttemptId } from '../partition/attempt-output.ts';
import { commitAttempt, manifestKey, outcomeKey, runManifest, type RunManifest } from '../partition/commit.ts';
import { knownFailureCause } from '../partition/known-failures.ts';
import {
  BATCH_FILE,
  SUMMARY_ERROR_NAME_CHARS,
  partitionLabel,
  runKey,
  partitionResults,
  type MapResult,
  type FailedPartition,
  type FailedSummary,
  type PartitionCounts,
  type PartitionOutcome,
  type PartitionSummary,
  type SucceededPartition,
} from '../partition/outcome.ts';
import { batchStatus, countOutcomes, failuresOf, partitionOrder, resultFold, type BatchResult } from '../partition/reduce.ts';
import { resumeItems, resumePoint } from '../partition/resume.ts';
import { runPartition } from '../partition/run-partition.ts';
import { halvesOf, inlineItems, resolvePartition, writeItems, writePlan, type PartitionItem } from '../plan/map-items.ts';
import { withUncompressedSizes } from '../plan/gzip-size.ts';
import { planPartitions, type PartitionPlan } from '../plan/partition-plan.ts';
import { THROUGHPUT_FILE, adaptSizing, measuredThroughput, type AdaptedSizing, type Throughput } from '../plan/adaptive-sizing.ts';
import { readMapRunResults, type DistributedMapOutput } from './map-run-results.ts';
import type { ObjectStore, StoredObject } from '../store/object-store.ts';
import { bucketAndKey } from '../store/bucket-names.ts';
import { openStore, type S3ClientSource } from '../store/open-store.ts';
import { readJson, readJsonIfPresent } from '../store/read-json.ts';

/**
 * The steps of the state machine (partition, work a partition or a batch, split, reduce), as
 * plain async functions of their event. The Lambda handlers in lambdas/ are thin wrappers; the
 * local engine runs the same wrappers.
 */

/** Deploy-time settings the state machine passes to the partitioner (strings: they come from DefinitionSubstitutions). */
export interface PartitionSettings {
  readonly maxConcurrency?: string | number;
  readonly toleratedFailurePercentage?: string | number;
  readonly mapMode?: string;
  /** The worker's timeout in seconds: partitions are sized to take at most half of it. */
  readonly workerTimeout?: string | number;
  /** Partitions per Distributed Map child (its ItemBatcher). */
  readonly itemsPerBatch?: string | number;
}

export type MapMode = 'INLINE' | 'DISTRIBUTED';

/** Where a Distributed Map's ItemReader finds the plan: `bucket` is "local" for a directory output. */
export interface ManifestLocation {
  readonly bucket: string;
  readonly key: string;
}

/** Each function's Timeout in seconds: every Lambda Task's TimeoutSecondsPath reads its own from here. */
export interface TaskTimeouts {
  readonly partitioner: number;
  readonly worker: number;
  readonly reducer: number;
}

export interface PartitionEvent {
  readonly request: JobRequest;
  /** The execution's name: results of one execution never mix with another's. */
  readonly runId: string;
  readonly settings?: PartitionSettings;
  readonly timeouts?: TaskTimeouts;
}

export interface PlanSummary {
  readonly objects: number;
  readonly bytes: number;
  readonly partitions: number;
  readonly cappedAt?: number;
  /** The plan manifest (a URI): one partition a line. */
  readonly manifest?: string;
  /** The plan manifest's key under the output: the run manifest names it, for a run that resumes this one. */
  readonly planKey?: string;
  /** Set when the previous run's throughput made partitions smaller. */
  readonly adapted?: AdaptedSizing['adapted'];
  /** A resumed run: the run it resumes (whose plan this is), and how many partitions and halves it runs again. */
  readonly resumed?: { readonly from: string; readonly partitions: number };
}

export interface PartitionOutput {
  readonly job: Job;
  readonly runId: string;
  readonly plan: PlanSummary;
  /** The Map's items (Inline); the Map replaces them with its results. Empty in Distributed mode. */
  readonly partitions: PartitionItem[];
  /** The Distributed Map's items, one reference to a partition of the plan a line: its ItemReader reads them. */
  readonly manifest?: ManifestLocation;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
  readonly itemsPerBatch: number;
  /** Passed on to every Task after the partitioner, for its TimeoutSecondsPath. */
  readonly timeouts?: TaskTimeouts;
}

export interface StepDeps {
  readonly s3: S3ClientSource;
  /** Takes known secrets out of the files a step writes (partition details, rejected records, the batch file). */
  readonly redact?: (text: string) => string;
}

/**
 * Lists the input (sizes only) and plans its partitions; with the previous run's throughput and
 * the worker timeout, no partition is planned to take more than half the timeout.
 */
export async function planJob(job: Job, deps: StepDeps, pacing?: { throughput: Throughput | undefined; workerTimeoutSeconds: number }): Promise<PartitionPlan & { adapted?: AdaptedSizing['adapted'] }> {
  const listing: StoredObject[] = [];
  const { source } = stores(job, deps);
  for await (const object of source.list()) listing.push(object);
  const total = listing.reduce((sum, object) => sum + object.size, 0);
  const { sizing, adapted } = adaptSizing(job.sizing, total, job.maxPartitions, pacing?.throughput, pacing?.workerTimeoutSeconds ?? 0);
  const plan = planPartitions(await withUncompressedSizes(source, listing), { sizing, maxPartitions: job.maxPartitions });
  if (plan.partitions.length === 0 && !job.allowEmpty) {
    // `s3://b/x/data` names the folder data/, never an object called data: say so where it can mislead.
    const asFolder = /^s3:\/\//i.test(job.input) && !job.input.endsWith('/') ? ` (read as the folder ${job.input}/: an S3 key is read as one object only when its name ends in a data file extension such as .jsonl, .csv or .gz)` : '';
    throw new InputError(
      `input ${job.input} is empty: ${plan.objects === 0 ? `there is no object under it${asFolder}` : `its ${plan.objects} objects are all empty`}. Check the path (a date in the prefix?), or set allow-empty to true when an empty batch is expected.`,
    );
  }
  return adapted === undefined ? plan : { ...plan, adapted };
}

export async function partitionStep(event: PartitionEvent, deps: StepDeps): Promise<PartitionOutput> {
  const job = parseJob(event.request ?? {});
  const settings = parseSettings(event.settings ?? {});
  const runId = parseRunId(event.runId);
  const timeouts = event.timeouts === undefined ? undefined : parseTimeouts(event.timeouts);
  const { source, destination } = stores(job, deps);
  const distributed = settings.mapMode === 'DISTRIBUTED';
  const common = {
    job,
    runId,
    maxConcurrency: settings.maxConcurrency,
    toleratedFailurePercentage: settings.toleratedFailurePercentage,
    itemsPerBatch: settings.itemsPerBatch,
    ...(timeouts === undefined ? {} : { timeouts }),
  };
  // Distributed items are references, so a child's input does not grow with the objects a partition holds.
  const itemsFile = async (items: readonly PartitionItem[]) => (distributed ? { manifest: bucketAndKey(parseLocation(job.output, 'output'), await writeItems(items, destination)) } : {});
  if (job.resume !== undefined) {
    // No new plan: the run resumed planned the partitions, and only those that failed there run.
    const point = await resumePoint(destination, job.resume, job, source);
    const items = await resumeItems(destination, point);
    return {
      ...common,
      plan: { ...point.plan, manifest: destination.uriOf(point.manifest.plan), planKey: point.manifest.plan, resumed: { from: job.resume, partitions: items.length } },
      partitions: distributed ? [] : items,
      ...(await itemsFile(items)),
    };
  }
  const throughput = await readJson<Throughput>(destination, THROUGHPUT_FILE).catch(() => undefined);
  const plan = await planJob(job, deps, { throughput, workerTimeoutSeconds: settings.workerTimeoutSeconds });
  const written = await writePlan(plan, destination);
  return {
    ...common,
    plan: {
      objects: plan.objects,
      bytes: plan.bytes,
      partitions: plan.partitions.length,
      ...(plan.cappedAt === undefined ? {} : { cappedAt: plan.cappedAt }),
      manifest: destination.uriOf(written.key),
      planKey: written.key,
      ...(plan.adapted === undefined ? {} : { adapted: plan.adapted }),
    },
    partitions: distributed ? [] : inlineItems(plan, written),
    ...(await itemsFile(written.refs)),
  };
}

function parseTimeouts(timeouts: TaskTimeouts): TaskTimeouts {
  for (const name of ['partitioner', 'worker', 'reducer'] as const) {
    const seconds = timeouts[name];
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 900) {
      throw new InputError(`timeouts.${name} ${JSON.stringify(seconds)} must be a Lambda Timeout, a whole number of seconds from 1 to 900.`);
    }
  }
  return { partitioner: timeouts.partitioner, worker: timeouts.worker, reducer: timeouts.reducer };
}

function parseSettings(settings: PartitionSettings): { maxConcurrency: number; toleratedFailurePercentage: number; mapMode: MapMode; workerTimeoutSeconds: number; itemsPerBatch: number } {
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
  const workerTimeoutSeconds = Number(settings.workerTimeout ?? 0);
  if (!(workerTimeoutSeconds >= 0)) throw new InputError(`WorkerTimeout "${settings.workerTimeout}" must be a number of seconds.`);
  const itemsPerBatch = Number(settings.itemsPerBatch ?? 1);
  if (!Number.isInteger(itemsPerBatch) || itemsPerBatch < 1) throw new InputError(`ItemsPerBatch "${settings.itemsPerBatch}" must be a whole number from 1.`);
  return { maxConcurrency, toleratedFailurePercentage, mapMode, workerTimeoutSeconds, itemsPerBatch };
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
    source: openStore(parseInputLocation(job.input), deps.s3),
    destination: openStore(parseLocation(job.output, 'output'), deps.s3),
  };
}

export interface WorkEvent {
  readonly job: Job;
  readonly runId: string;
  readonly item: PartitionItem;
  readonly timeouts?: TaskTimeouts;
}

type ItemResult = PartitionSummary | FailedSummary;

/**
 * A Distributed Map child's input with an ItemBatcher: `{ BatchInput, Items }`. After a failed
 * batch, RecoverBatch loops back with the partitions still to run and the results so far.
 */
export interface BatchEvent {
  readonly BatchInput: { readonly job: Job; readonly runId: string; readonly timeouts?: TaskTimeouts };
  readonly Items: readonly PartitionItem[];
  readonly results?: readonly ItemResult[];
}

export interface WorkDeps extends StepDeps {
  readonly handler: () => Promise<LoadedHandler>;
  /** The execution environment's log stream name (AWS_LAMBDA_LOG_STREAM_NAME), read before the handler loads. */
  readonly lane?: string;
}

/** Which partition (or half) an item is. */
function nameOf(item: PartitionItem): { id: number; split?: string } {
  return 'split' in item && item.split !== undefined ? { id: item.id, split: item.split } : { id: item.id };
}

/** Where a batch keeps each partition's result as it ends: what survives the batch running out of time. */
export function batchResultKey(runId: string, item: PartitionItem): string {
  return runKey(runId, `batch-results/part-${partitionLabel(nameOf(item))}.json`);
}

/** A failure in a Map result: the error's name (cut short), the attempt whose outcome file has the rest, and its counts when the error has them. */
function failedSummary(item: PartitionItem, error: string, attempt?: string, counts?: PartitionCounts): FailedSummary {
  return { ...nameOf(item), status: 'failed', bytes: item.bytes, error: error.slice(0, SUMMARY_ERROR_NAME_CHARS), ...(attempt === undefined ? {} : { attempt }), ...counts };
}

/**
 * Runs each partition of a batch in turn; a partition that fails is reported as failed, so one
 * bad partition does not fail its batch. Each result is also written as the partition ends, so a
 * batch that runs out of time loses none of them.
 */
export async function batchStep(event: BatchEvent, deps: WorkDeps): Promise<ItemResult[]> {
  const runId = parseRunId(event.BatchInput.runId);
  const { destination } = stores(event.BatchInput.job, deps);
  const results = [...(event.results ?? [])];
  for (const item of event.Items) {
    let result: ItemResult;
    try {
      result = await workStep({ ...event.BatchInput, item }, deps);
    } catch (error) {
      // The worker could not even write its failure down: the name is what is known.
      result = failedSummary(item, serializeError(error).errorType);
    }
    await destination.write(batchResultKey(runId, item), (deps.redact ?? String)(JSON.stringify(result)));
    results.push(result);
  }
  return results;
}

export interface RecoverBatchEvent {
  /** The input of the ProcessBatch that failed, with its error. */
  readonly recoverBatch: BatchEvent & { readonly failure: { readonly Error: string; readonly Cause: string } };
}

/**
 * After a batch failed (ran out of time, or its environment crashed): the partitions it finished
 * keep their results, once; the one it was running ends as it would on its own (after a timeout
 * it is split in two and the halves run again; a half, or any other failure, fails); the ones it
 * never reached go back to run. The batch's partitions run in order, so the first without a
 * result is the one it was running.
 */
export async function recoverBatchStep(event: RecoverBatchEvent, deps: StepDeps): Promise<BatchEvent> {
  const { BatchInput, Items, results = [], failure } = event.recoverBatch;
  const runId = parseRunId(BatchInput.runId);
  const { destination } = stores(BatchInput.job, deps);
  const done = [...results];
  let next = 0;
  for (; next < Items.length; next += 1) {
    const finished = await readJsonIfPresent<ItemResult>(destination, batchResultKey(runId, Items[next]!));
    if (finished === undefined) break;
    done.push(finished);
  }
  const [stopped, ...rest] = Items.slice(next);
  if (stopped === undefined) return { BatchInput, Items: [], results: done };
  const timedOut = failure.Error === 'Sandbox.Timedout' || failure.Error === 'States.Timeout';
  if (timedOut && nameOf(stopped).split === undefined) {
    try {
      return { BatchInput, Items: [...(await halvesOf(stopped, destination)), ...rest], results: done };
    } catch (error) {
      return { BatchInput, Items: rest, results: [...done, failedSummary(stopped, serializeError(error).errorType)] };
    }
  }
  return { BatchInput, Items: rest, results: [...done, failedSummary(stopped, failure.Error)] };
}

/**
 * Runs one partition as one attempt: its files are staged under the attempt, its full outcome goes
 * to the attempt's outcome file, and a summary naming the attempt goes back through the Map. A
 * partition that fails is such an outcome too: the whole error (message, trace) goes to the file,
 * and only its name through the Map, whatever the error holds.
 */
export async function workStep(event: WorkEvent, deps: WorkDeps): Promise<ItemResult> {
  const { job, item } = event;
  const runId = parseRunId(event.runId);
  const { source, destination } = stores(job, deps);
  const output = new AttemptOutput(destination, { runId, partition: nameOf(item), attempt: newAttemptId() });
  const startedAt = Date.now();
  let outcome: PartitionOutcome;
  try {
    outcome = await runPartition({
      partition: await resolvePartition(item, destination),
      format: job.format,
      maxRejected: job.maxRejected,
      source,
      output,
      handler: await deps.handler(),
      ...(deps.redact === undefined ? {} : { redact: deps.redact }),
      ...(deps.lane === undefined ? {} : { lane: deps.lane }),
    });
  } catch (error) {
    const { errorType, errorMessage, trace } = serializeError(error);
    // A partition over max-rejected says what it read, handed over and rejected: the totals count them.
    const counts = error instanceof RejectedRecordsError ? error.counts : {};
    outcome = { ...nameOf(item), status: 'failed', bytes: item.bytes, ...counts, error: errorType, cause: JSON.stringify({ errorType, errorMessage, trace }), attempt: output.ref.attempt, startedAt, finishedAt: Date.now() };
  }
  await destination.write(attemptKey(output.ref, OUTCOME_FILE), (deps.redact ?? String)(JSON.stringify(outcome)));
  if (outcome.status === 'failed') {
    const { records, handed, rejected } = outcome;
    return failedSummary(item, outcome.error, output.ref.attempt, records === undefined ? undefined : { records, handed: handed ?? 0, rejected: rejected ?? 0 });
  }
  // Only what the reducer needs to find the outcome file, and progress its count, travels through the Map.
  const { id, split, status, attempt, records } = outcome;
  return { id, ...(split === undefined ? {} : { split }), status, attempt, records };
}

export interface SplitEvent {
  /** The iteration input of the partition that timed out. */
  readonly split: WorkEvent;
}

export interface SplitOutput {
  readonly job: Job;
  readonly runId: string;
  /** References to the halves when the partition was one, so they are as small as it was. */
  readonly halves: [PartitionItem, PartitionItem];
  readonly timeouts?: TaskTimeouts;
}

/** Splits a partition that timed out into two halves, which the state machine then runs. */
export async function splitStep(event: SplitEvent, deps: StepDeps): Promise<SplitOutput> {
  const { job, runId, item, timeouts } = event.split;
  const { destination } = stores(job, deps);
  return { job, runId: parseRunId(runId), halves: await halvesOf(item, destination), ...(timeouts === undefined ? {} : { timeouts }) };
}

export interface ReduceEvent {
  readonly job: Job;
  readonly runId: string;
  readonly plan: PlanSummary;
  /** The Inline Map's results, or where a Distributed Map's ResultWriter put them. */
  readonly partitions: readonly MapResult[] | DistributedMapOutput;
  readonly toleratedFailurePercentage: number;
  /** The functions' timeouts: a partition known to have timed out is reported with its worker's. */
  readonly timeouts?: TaskTimeouts;
}

/** The batch file: the batch result and every partition's outcome, read by both engines' reports. */
export interface BatchFile extends BatchResult {
  readonly runId: string;
  readonly job: Job;
  readonly plan: PlanSummary;
  readonly outcomes: readonly PartitionOutcome[];
  /** The run manifest's key under the output: every output this run committed. */
  readonly manifest: string;
  /** The run this one resumed; its outcomes that this run reused have `ranIn`. */
  readonly resumes?: string;
  /** Why the reducer failed (a merge error): the batch file still lists every partition. */
  readonly error?: { readonly name: string; readonly message: string };
}

const IN_FLIGHT = 16;

/**
 * Counts each partition once, from the one attempt its Map result names (and for a resumed run,
 * the partitions it did not run from the attempts the run it resumes committed); merges the results
 * as they are read, in partition order, dropping each once merged; writes the batch file; commits
 * those attempts' outputs (nothing else ever reaches `partitions/` or `rejected/`); and last writes
 * the run manifest, the run's commit point. A reducer stopped at any point before it (a timeout, a
 * cancel) leaves the batch file to report every partition, and no manifest. A merge that fails
 * still commits and writes both, and then fails the reducer with its error. Returns counts only:
 * the result and the failures are in the batch file.
 */
export async function reduceStep(event: ReduceEvent, deps: WorkDeps): Promise<ReduceOutput> {
  const handler = await deps.handler();
  const runId = parseRunId(event.runId);
  const { destination } = stores(event.job, deps);
  const iterations = Array.isArray(event.partitions) ? event.partitions : await readMapRunResults(event.job, event.partitions as DistributedMapOutput, deps);
  const resumed = event.job.resume === undefined ? undefined : await readJson<RunManifest>(destination, manifestKey(event.job.resume));
  const freshOutcome = async (entry: PartitionSummary | FailedSummary): Promise<PartitionOutcome> => {
    // The counted attempt's outcome file holds everything: a succeeded partition's result, or a failure the worker caught.
    if (entry.attempt !== undefined) return readJson<PartitionOutcome>(destination, outcomeKey(runId, { ...entry, attempt: entry.attempt }));
    if (entry.status === 'succeeded') throw new InputError(`The Map result of partition ${partitionLabel(entry)} names no attempt.`);
    return { ...entry, cause: entry.cause ?? knownFailureCause(entry.error, event.timeouts?.worker) };
  };
  // What to count, in partition order: each Map result, and for a resumed run each partition the run it resumes committed.
  const fresh = partitionResults(iterations as MapResult[]).map((entry) => ({ id: entry.id, split: entry.split, read: () => freshOutcome(entry) }));
  const reused = (resumed?.partitions ?? []).map((entry) => ({
    id: entry.id,
    split: entry.split,
    read: async (): Promise<PartitionOutcome> => ({ ...(await readJson<SucceededPartition>(destination, entry.outcome)), ranIn: entry.run ?? resumed!.runId }),
  }));
  const fold = resultFold(handler.merge);
  let mergeError: unknown;
  const merge = async (result: unknown): Promise<void> => {
    if (mergeError !== undefined) return;
    await fold.add(result).catch((error: unknown) => void (mergeError = error));
  };
  // Per-partition results stay in their own files; the merged one is in `result`.
  const outcomes: PartitionOutcome[] = [];
  await mapInOrder(
    [...reused, ...fresh].sort(partitionOrder),
    IN_FLIGHT,
    (entry) => entry.read(),
    async (outcome) => {
      if (outcome.status === 'succeeded') await merge(outcome.result);
      outcomes.push(outcome.status === 'succeeded' ? { ...outcome, result: null } : outcome);
    },
  );
  const result = mergeError === undefined ? await fold.result().catch((error: unknown) => void (mergeError = error)) : undefined;
  const counts = countOutcomes(outcomes);
  const batch: BatchResult = {
    status: mergeError === undefined ? batchStatus(counts, event.toleratedFailurePercentage) : 'FAILED',
    ...counts,
    toleratedFailurePercentage: event.toleratedFailurePercentage,
    result: result ?? null,
    failures: failuresOf(outcomes),
  };
  const error = mergeError === undefined ? undefined : serializeError(mergeError);
  const file: BatchFile = {
    ...batch,
    runId,
    job: event.job,
    plan: event.plan,
    outcomes,
    manifest: manifestKey(runId),
    ...(event.job.resume === undefined ? {} : { resumes: event.job.resume }),
    ...(error === undefined ? {} : { error: { name: error.errorType, message: error.errorMessage } }),
  };
  // Before the commit, which can be stopped half way: the report then still lists every partition.
  await destination.write(runKey(runId, BATCH_FILE), (deps.redact ?? String)(JSON.stringify(file)));
  const succeeded = outcomes.filter((outcome): outcome is SucceededPartition => outcome.status === 'succeeded');
  // A reused result is committed again from its own attempt: what is published is what is counted, whatever ran in between.
  const committed = await mapLimited(succeeded, IN_FLIGHT, (outcome) => commitAttempt(destination, outcome.ranIn ?? runId, outcome));
  const failed = outcomes.filter((outcome): outcome is FailedPartition => outcome.status === 'failed');
  const manifest = runManifest(runId, batch.status, destination.uri, committed, failed, { plan: event.plan.planKey, resumes: event.job.resume });
  await destination.write(manifestKey(runId), JSON.stringify(manifest));
  // The next run plans its partitions from what this one measured.
  const throughput = measuredThroughput(outcomes.filter((outcome) => outcome.status === 'failed' || outcome.ranIn === undefined), runId);
  if (throughput !== undefined) await destination.write(THROUGHPUT_FILE, JSON.stringify(throughput));
  if (mergeError !== undefined) throw mergeError;
  return reduceOutput(batch);
}

/**
 * What the Reduce state returns into the execution: the status CheckTolerance reads and the counts.
 * Never the merged result or the failures, which can be of any size: the batch file holds them.
 */
export type ReduceOutput = Omit<BatchResult, 'result' | 'failures'>;

export function reduceOutput({ result: _result, failures: _failures, ...counts }: BatchResult): ReduceOutput {
  return counts;
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
