import { availableParallelism } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { errorMessage } from '../errors.ts';
import { toJobRequest, type Job } from '../job.ts';
import { parseLocation } from '../location.ts';
import { BATCH_FILE, partitionResults, runKey, type MapResult } from '../partition/outcome.ts';
import { buildReport, type BatchProgress, type BatchReport } from '../report/batch-report.ts';
import type { BatchFile } from '../steps/steps.ts';
import { readJson } from '../store/read-json.ts';
import { locationParameters, storeForBucket } from '../store/bucket-names.ts';
import { lazyS3Client, openStore, type S3Settings } from '../store/open-store.ts';
import { LambdaPool } from './lambda-pool.ts';
import { distributedMapAsTask, isDistributedMap, runDistributedMap } from './distributed-map.ts';
import { defaultTemplatePath, loadStateMachine, type LocalFunction } from './template-definition.ts';
import { INTERPRETER_NEVER_SECONDS, TASK_TIMEOUT_FIELD, taskTimeoutSeconds, withLocalTaskTimeouts } from './task-timeouts.ts';
import { assertRunsLocally, retryingStateNames, taskStateNames, visitStates } from './unsupported-features.ts';

/** Runs one invocation within the calling Task's limit, if it has one; the default is the pool. Tests wrap it to inject faults. */
export type Invoke = (fn: LocalFunction, event: unknown, taskTimeoutSeconds?: number) => Promise<unknown>;

export interface LocalRunOptions {
  readonly job: Job;
  /** The user's handler module. */
  readonly handler: string;
  readonly template?: string;
  /** Values for template parameters (MaxConcurrency, ToleratedFailurePercentage, ...). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Lambda environments at once; one per core by default. */
  readonly concurrency?: number;
  readonly s3?: S3Settings;
  readonly runId?: string;
  /** Replaces every Retry wait, in milliseconds (the template's backoff otherwise). */
  readonly retryDelayMs?: number;
  readonly wrapInvoke?: (invoke: Invoke) => Invoke;
  readonly onProgress?: (progress: BatchProgress) => void;
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

type MapEvent = { type: string; output?: unknown; parentState?: { name?: string } };

/**
 * Executes the template's state machine with a real Amazon States Language interpreter, running
 * each Task's Lambda handler in a pool of worker threads. The report comes from the batch file
 * the reducer wrote, exactly as the AWS engine reads it.
 */
export async function runLocal(options: LocalRunOptions): Promise<BatchReport> {
  const now = options.now ?? Date.now;
  const machine = await loadStateMachine(options.template ?? defaultTemplatePath(), {
    ...locationParameters(parseLocation(options.job.input, 'input'), parseLocation(options.job.output, 'output')),
    ...options.parameters,
  });
  assertRunsLocally(machine.definition, new Set(machine.functions.keys()));
  const runId = options.runId ?? `local-${new Date(now()).toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
  const { job } = options;

  const pool = new LambdaPool({
    size: options.concurrency ?? availableParallelism(),
    env: {
      SFN_FANOUT_HANDLER: path.resolve(options.handler),
      ...(options.s3?.endpoint === undefined ? {} : { SFN_FANOUT_S3_ENDPOINT: options.s3.endpoint }),
      ...(options.s3?.region === undefined ? {} : { AWS_REGION: options.s3.region }),
    },
  });
  const invoke = options.wrapInvoke?.(pool.invoke.bind(pool)) ?? pool.invoke.bind(pool);
  const progress = { total: undefined as number | undefined, succeeded: 0, failed: 0, records: 0 };
  const report = (): void => options.onProgress?.({ ...progress, running: pool.active });
  /** One finished iteration: a partition, the halves of a split one, or a batch. */
  const countFinished = (output: unknown, failed: boolean): void => {
    if (failed) progress.failed += 1;
    for (const result of output === undefined || output === null ? [] : partitionResults([output as MapResult])) {
      if (result.status === 'failed') progress.failed += 1;
      else {
        progress.succeeded += 1;
        progress.records += result.records;
      }
    }
    report();
  };

  // Task limits come from the template; Distributed Maps become Tasks whose local handler runs them (the interpreter would run them inline).
  const { definition: timed, timeouts } = withLocalTaskTimeouts(machine.definition);
  const distributedMaps = new Map<string, Record<string, unknown>>();
  const definition = withDistributedMapsAsTasks(timed, distributedMaps);
  const overrides: Record<string, (input: unknown) => Promise<never>> = Object.fromEntries(
    taskStateNames(machine.definition).map((name) => [
      name,
      async (raw: unknown): Promise<never> => {
        // A Task with a TimeoutSecondsPath and Parameters carries its limit in them.
        const carries = typeof raw === 'object' && raw !== null && TASK_TIMEOUT_FIELD in raw;
        const { [TASK_TIMEOUT_FIELD]: carried, ...rest } = (carries ? raw : {}) as Record<string, unknown>;
        const input = (carries ? rest : raw) as { FunctionName?: string; Payload?: unknown };
        const taskSeconds = taskTimeoutSeconds(timeouts.get(name), carries ? { value: carried } : undefined, raw);
        // lambda:invoke hands the function its Payload and wraps the result as Lambda's Invoke API does.
        const viaInvoke = typeof input?.FunctionName === 'string';
        const fn = machine.functions.get(viaInvoke ? input.FunctionName! : stateResource(machine.definition, name))!;
        const result = (await invoke(fn, viaInvoke ? input.Payload : input, taskSeconds)) as { plan?: { partitions?: number } };
        if (fn.module === 'partitioner' && typeof result?.plan?.partitions === 'number') {
          progress.total = result.plan.partitions;
          report();
        }
        return (viaInvoke ? { ExecutedVersion: '$LATEST', Payload: result, StatusCode: 200 } : result) as never;
      },
    ]),
  );
  const retryIntervalOverrides =
    options.retryDelayMs === undefined ? undefined : Object.fromEntries(retryingStateNames(machine.definition).map((name) => [name, options.retryDelayMs!]));
  const runOptions = { overrides: { taskResourceLocalHandlers: overrides, ...(retryIntervalOverrides === undefined ? {} : { retryIntervalOverrides }) } };
  const outputLocation = parseLocation(job.output, 'output');
  const s3Client = lazyS3Client(options.s3 ?? {});
  for (const [name, state] of distributedMaps) {
    overrides[name] = async (input: unknown) =>
      (await runDistributedMap(state, input, {
        storeFor: (bucket) => storeForBucket(bucket, outputLocation, s3Client),
        runOptions,
        runId,
        onChildFinished: countFinished,
      })) as never;
  }

  const startedAt = now();
  const input = toJobRequest(job);
  const execution = new StateMachine(definition as unknown as StateMachineDefinition, { validationOptions: { checkArn: false } }).run(input, {
    ...runOptions,
    context: { Execution: { Id: `local:${runId}`, Name: runId, Input: input, StartTime: new Date(startedAt).toISOString() } },
  });
  const onAbort = (): void => execution.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // Only the top-level Maps' iterations are partitions; a nested Map runs a split partition's halves.
  const topLevelMaps = new Set(Object.entries((definition.States ?? {}) as Record<string, { Type?: string }>).filter(([, state]) => state.Type === 'Map').map(([name]) => name));
  const watching = watchIterations(execution.eventLogs as AsyncIterable<MapEvent>, topLevelMaps, countFinished);

  let error: { name: string; cause: string } | undefined;
  try {
    await execution.result;
  } catch (failure) {
    error = executionError(failure, options.signal);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await pool.close();
    await watching;
  }
  const finishedAt = now();
  const batch = await readJson<BatchFile>(openStore(outputLocation, s3Client), runKey(runId, BATCH_FILE)).catch(() => undefined);
  return buildReport(
    { engine: 'local', runId, input: job.input, output: job.output, format: job.format, startedAt, finishedAt, ...(error === undefined ? {} : { error }) },
    batch,
  );
}

function withDistributedMapsAsTasks(machine: Record<string, unknown>, found: Map<string, Record<string, unknown>>): Record<string, unknown> {
  const states = Object.fromEntries(
    Object.entries((machine.States ?? {}) as Record<string, Record<string, unknown>>).map(([name, state]) => {
      if (!isDistributedMap(state)) return [name, state];
      found.set(name, state);
      // A Map state has no time limit of its own in AWS.
      return [name, { ...distributedMapAsTask(state), TimeoutSeconds: INTERPRETER_NEVER_SECONDS }];
    }),
  );
  return { ...machine, States: states };
}

function stateResource(definition: Record<string, unknown>, stateName: string): string {
  let found = '';
  visitStates(definition, (name, state) => {
    if (name === stateName) found = String(state.Resource);
  });
  return found;
}

async function watchIterations(events: AsyncIterable<MapEvent>, maps: ReadonlySet<string>, onFinished: (output: unknown, failed: boolean) => void): Promise<void> {
  for await (const event of events) {
    if (!maps.has(event.parentState?.name ?? '')) continue;
    if (event.type === 'MapIterationSucceeded') onFinished(event.output, false);
    if (event.type === 'MapIterationFailed') onFinished(undefined, true);
  }
}

/** The interpreter wraps the failing state's error; unwrap it to what AWS reports as error and cause. */
function executionError(failure: unknown, signal: AbortSignal | undefined): { name: string; cause: string } {
  if (signal?.aborted === true) return { name: 'ExecutionAborted', cause: 'The run was cancelled.' };
  const inner = (failure as { cause?: unknown }).cause ?? failure;
  return { name: (inner as { name?: string }).name ?? 'Error', cause: errorMessage(inner) };
}
