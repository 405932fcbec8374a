import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { abortable } from '../concurrency.ts';
import { CancelledError, InputError, errorMessage } from '../errors.ts';
import { bundleHandler, type HandlerBundle } from '../handler/bundle.ts';
import { bundleCacheRoot } from '../handler/bundle-cache.ts';
import { toJobRequest, type Job } from '../job.ts';
import { parseInputLocation, parseLocation } from '../location.ts';
import { buildReport, type BatchProgress, type BatchReport } from '../report/batch-report.ts';
import { consoleText } from '../report/console.ts';
import { combinedError, readFinishedOutcomes, readRunFiles } from '../report/run-files.ts';
import { locationParameters, storeForBucket } from '../store/bucket-names.ts';
import { CLI_REQUEST_DEADLINE_MS, lazyS3Client, openStore, regionOf, type S3Settings } from '../store/open-store.ts';
import { Redactor } from '../secrets.ts';
import { lambdaEnvironment, type LambdaCredentials } from './lambda-environment.ts';
import { PartitionProgress } from './partition-progress.ts';
import { LambdaPool, lambdaLogWriter } from './lambda-pool.ts';
import { checkedStateMachine } from './checked-state-machine.ts';
import { distributedMapAsTask, isDistributedMap, runDistributedMap } from './distributed-map.ts';
import { defaultTemplatePath, loadStateMachine, type LocalFunction } from './template-definition.ts';
import { INTERPRETER_NEVER_SECONDS, TASK_TIMEOUT_FIELD, taskTimeoutSeconds, withLocalTaskTimeouts } from './task-timeouts.ts';
import { checkPayload, withPayloadLimit, type PayloadListener } from './payload-limit.ts';
import { assertRunsLocally, retryingStateNames, taskStateNames, visitStates } from './unsupported-features.ts';

/** Runs one invocation within the calling Task's limit, if it has one; the default is the pool. Tests wrap it to inject faults. */
export type Invoke = (fn: LocalFunction, event: unknown, taskTimeoutSeconds?: number) => Promise<unknown>;

export interface LocalRunOptions {
  readonly job: Job;
  /** The user's handler module. */
  readonly handler: string;
  /** Its bundle, when the caller built it already; else it is bundled here (from the cache when unchanged). */
  readonly bundle?: HandlerBundle;
  readonly template?: string;
  /** Values for template parameters (MaxConcurrency, ToleratedFailurePercentage, ...). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Lambda environments at once; one per core by default. */
  readonly concurrency?: number;
  readonly s3?: S3Settings;
  /** Variables the user passes to every Lambda environment on purpose (pass-env); nothing else of this process's environment reaches them. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Known secrets: the engine and its Lambda threads redact them from everything they write. */
  readonly redactor?: Redactor;
  /**
   * Where what the Lambdas print goes, as Lambda sends it to CloudWatch Logs: whole lines, each
   * labelled with its function and partition (or request), several joined by new lines. The
   * caller redacts and filters it as all its console text; by default it goes to stderr so.
   */
  readonly lambdaLog?: (lines: string) => void;
  readonly runId?: string;
  /** Replaces every Retry wait, in milliseconds (the template's backoff otherwise). */
  readonly retryDelayMs?: number;
  readonly wrapInvoke?: (invoke: Invoke) => Invoke;
  readonly onProgress?: (progress: BatchProgress) => void;
  /** Hears the size of every state's input and output (each checked against Step Functions' 256 KiB). */
  readonly onStatePayload?: PayloadListener;
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
  const startedAt = now();
  const { job, signal } = options;
  const runId = options.runId ?? newLocalRunId(startedAt);
  const inputLocation = parseInputLocation(job.input);
  const outputLocation = parseLocation(job.output, 'output');
  const machine = await loadStateMachine(options.template ?? defaultTemplatePath(), {
    ...locationParameters(inputLocation, outputLocation),
    ...options.parameters,
  });
  assertRunsLocally(machine.definition, new Set(machine.functions.keys()));
  const cancelled = (): boolean => signal?.aborted === true;
  if (cancelled()) return cancelledReport(job, runId, startedAt, now(), signal!);
  // The same bundle the AWS engine zips: a local run exercises the code Lambda will run.
  const bundle = options.bundle ?? (await bundleHandler(options.handler));
  const redactor = options.redactor ?? new Redactor();
  const s3Client = lazyS3Client(options.s3 ?? {}, { signal, requestDeadlineMs: CLI_REQUEST_DEADLINE_MS });
  const region = regionOf(options.s3 ?? {});
  // Like a Lambda's role, credentials go to the functions only when the run reads or writes S3.
  const usesS3 = inputLocation.kind === 's3' || outputLocation.kind === 's3';
  let credentials: LambdaCredentials | undefined;
  try {
    credentials = usesS3 ? await abortable(s3Client().then((client) => client.config.credentials()), signal) : undefined;
  } catch (error) {
    if (cancelled()) return cancelledReport(job, runId, startedAt, now(), signal!);
    throw new InputError(`The run reads or writes S3, but no AWS credentials were found for it (${errorMessage(error)}). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; an S3-compatible server takes its own keys the same way.`, { cause: error });
  }

  const pool = new LambdaPool({
    size: options.concurrency ?? availableParallelism(),
    environment: (fn) =>
      lambdaEnvironment(fn, {
        region,
        engine: {
          SFN_FANOUT_HANDLER: bundle.file,
          ...(options.s3?.endpoint === undefined ? {} : { SFN_FANOUT_S3_ENDPOINT: options.s3.endpoint }),
        },
        credentials,
        passed: options.environment ?? {},
        path: process.env.PATH,
      }),
    secrets: redactor.values,
    onOutput: lambdaLogWriter(options.lambdaLog ?? ((lines) => void process.stderr.write(`${consoleText(redactor.redact(lines))}\n`))),
  });
  const invoke = options.wrapInvoke?.(pool.invoke.bind(pool)) ?? pool.invoke.bind(pool);
  const progress = new PartitionProgress();
  // Partitions running are the worker invocations an environment is running now, not the ones waiting for one.
  const report = (): void => options.onProgress?.(progress.snapshot(pool.runningOf('worker')));
  /** One finished iteration: a partition, the halves of a split one, or a batch. An iteration ended by a cancel is not a failure. */
  const countFinished = (output: unknown, failed: boolean): void => {
    if (failed && cancelled()) return;
    progress.finished(failed ? undefined : output);
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
        checkPayload(name, 'task input', input, options.onStatePayload);
        const taskSeconds = taskTimeoutSeconds(timeouts.get(name), carries ? { value: carried } : undefined, raw);
        // lambda:invoke hands the function its Payload and wraps the result as Lambda's Invoke API does.
        const viaInvoke = typeof input?.FunctionName === 'string';
        const fn = machine.functions.get(viaInvoke ? input.FunctionName! : stateResource(machine.definition, name))!;
        const result = (await invoke(fn, viaInvoke ? input.Payload : input, taskSeconds)) as { plan?: { partitions?: number; resumed?: { partitions: number } } };
        if (fn.module === 'partitioner' && typeof result?.plan?.partitions === 'number' && progress.total === undefined) {
          // A resumed run runs only what failed in the run it resumes.
          progress.total = result.plan.resumed?.partitions ?? result.plan.partitions;
          report();
        }
        const taskResult = viaInvoke ? { ExecutedVersion: '$LATEST', Payload: result, StatusCode: 200 } : result;
        checkPayload(name, 'task result', taskResult, options.onStatePayload);
        return taskResult as never;
      },
    ]),
  );
  const retryIntervalOverrides =
    options.retryDelayMs === undefined ? undefined : Object.fromEntries(retryingStateNames(machine.definition).map((name) => [name, options.retryDelayMs!]));
  // Every state's input and output is held to Step Functions' 256 KiB, in Map iterations and child workflows too.
  const runOptions = withPayloadLimit({ overrides: { taskResourceLocalHandlers: overrides, ...(retryIntervalOverrides === undefined ? {} : { retryIntervalOverrides }) } }, options.onStatePayload);
  for (const [name, state] of distributedMaps) {
    overrides[name] = async (input: unknown) =>
      (await runDistributedMap(state, input, {
        storeFor: (bucket) => storeForBucket(bucket, outputLocation, s3Client),
        runOptions,
        runId,
        onChildFinished: countFinished,
        redact: (text) => redactor.redact(text),
      })) as never;
  }

  const input = toJobRequest(job);
  const execution = checkedStateMachine(definition, bundleCacheRoot(bundle.projectDir)).run(input, {
    ...runOptions,
    context: { Execution: { Id: `local:${runId}`, Name: runId, Input: input, StartTime: new Date(startedAt).toISOString() } },
  });
  const onAbort = (): void => execution.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  // Only the top-level Maps' iterations are partitions; a nested Map runs a split partition's halves.
  const topLevelMaps = new Set(Object.entries((definition.States ?? {}) as Record<string, { Type?: string }>).filter(([, state]) => state.Type === 'Map').map(([name]) => name));
  const watching = watchIterations(execution.eventLogs as AsyncIterable<MapEvent>, topLevelMaps, countFinished);

  let error: { name: string; cause: string } | undefined;
  try {
    await execution.result;
  } catch (failure) {
    error = executionError(failure, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await pool.close();
    await watching;
  }
  const outputStore = openStore(outputLocation, s3Client);
  const files = await readRunFiles(outputStore, runId);
  // A read the cancel itself stopped says nothing new: the run was cancelled, and its report says so.
  if (files.unreadable !== undefined) error = cancelled() ? (error ?? executionError(undefined, signal)) : combinedError(error, files.unreadable);
  // Without a batch file (the reducer failed, or the run was cancelled), the partitions that finished.
  const finished = files.batch === undefined ? await readFinishedOutcomes(outputStore, runId, progress.seen) : [];
  const finishedAt = now();
  return buildReport(
    { engine: 'local', runId, input: job.input, output: job.output, format: job.format, startedAt, finishedAt, committed: files.committed, ...(error === undefined ? {} : { error }) },
    files.batch,
    { outcomes: finished, ...(progress.total === undefined ? {} : { planned: progress.total }) },
  );
}

/** A run's name: when it started, and enough randomness that two runs never share one. */
export function newLocalRunId(startedAt: number): string {
  return `local-${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
}

/** The report of a run cancelled before its state machine started. */
export function cancelledReport(job: Job, runId: string, startedAt: number, finishedAt: number, signal: AbortSignal): BatchReport {
  return buildReport({ engine: 'local', runId, input: job.input, output: job.output, format: job.format, startedAt, finishedAt, error: { name: 'ExecutionAborted', cause: CancelledError.of(signal).message } }, undefined);
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
  if (signal?.aborted === true) return { name: 'ExecutionAborted', cause: CancelledError.of(signal).message };
  const inner = (failure as { cause?: unknown }).cause ?? failure;
  return { name: (inner as { name?: string }).name ?? 'Error', cause: errorMessage(inner) };
}
