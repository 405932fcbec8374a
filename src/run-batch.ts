import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { STSClient } from '@aws-sdk/client-sts';
import { checkCredentials, runAws, type AwsClients } from './aws/aws-engine.ts';
import { concurrencyUnderAccount, readAccountConcurrency } from './aws/lambda-concurrency.ts';
import { declaresParameter } from './local/template-parameters.ts';
import { defaultTemplatePath } from './local/template-definition.ts';
import { systemClock, type Clock } from './aws/clock.ts';
import type { StepIdentity } from './aws/execution.ts';
import { abortable } from './concurrency.ts';
import type { HandlerBundle } from './handler/bundle.ts';
import { cancelledReport, newLocalRunId, runLocal } from './local/local-engine.ts';
import type { BatchProgress, BatchReport } from './report/batch-report.ts';
import type { RunSettings } from './settings.ts';
import { chooseMapMode } from './plan/map-mode.ts';
import { partitionShortfall } from './plan/partition-plan.ts';
import { prepareRun } from './preflight.ts';
import { runSecrets, type Redactor } from './secrets.ts';
import { planJob } from './steps/steps.ts';
import { CLI_REQUEST_DEADLINE_MS, lazyS3Client, openStore, type S3ClientSource } from './store/open-store.ts';
import { createS3Client } from './store/s3-client.ts';
import { parseInputLocation, parseLocation } from './location.ts';
import { resumePoint } from './partition/resume.ts';

export interface RunHooks {
  readonly onProgress?: (progress: BatchProgress) => void;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  /** Something the user should look at, though the run goes on. */
  readonly warn?: (line: string) => void;
  /** The run's known secrets; built from the settings and this process's environment when not given. */
  readonly redactor?: Redactor;
  /** The AWS execution's ARN, as soon as it is known. */
  readonly onExecution?: (executionArn: string) => void;
  /** The AWS engine's time (the system clock unless a test swaps it). */
  readonly clock?: Clock;
  /** The AWS engine's clients (built from the region unless a test swaps them). */
  readonly awsClients?: AwsClients & { readonly sts: STSClient; readonly lambda: LambdaClient };
}

/** Runs a batch on the engine the settings name; the CLI and the action both come through here. */
export async function runBatch(settings: RunSettings, hooks: RunHooks = {}): Promise<BatchReport> {
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? log;
  const report = settings.aws === undefined ? await runOnLocalEngine(settings, hooks, log, warn) : await runOnAws(settings, hooks, log);
  if (report.status === 'SUCCEEDED' && report.plan?.partitions === 0) {
    warn(`input ${settings.job.input} is empty; allow-empty is set, so the batch succeeded with nothing to do.`);
  }
  return report;
}

async function runOnAws(settings: RunSettings, hooks: RunHooks, log: (line: string) => void): Promise<BatchReport> {
  const aws = settings.aws!;
  const prepared = await prepareRun(settings, log);
  const clients = hooks.awsClients ?? {
    cfn: new CloudFormationClient({ region: aws.region }),
    sfn: new SFNClient({ region: aws.region }),
    s3: createS3Client({ region: aws.region }, { requestDeadlineMs: CLI_REQUEST_DEADLINE_MS }),
    sts: new STSClient({ region: aws.region }),
    lambda: new LambdaClient({ region: aws.region }),
  };
  // Before planning, whose S3 listing would otherwise fail with the SDK's own credentials message.
  const account = await checkCredentials(clients.sts, hooks.signal);
  const shared = await common(settings, prepared.bundle, async () => clients.s3, log);
  const template = settings.template ?? defaultTemplatePath();
  // Auto mode keeps the Map under what the account's Lambdas may run at once.
  const parameters = settings.mapMode === 'auto' && (await declaresParameter(template, 'MaxConcurrency')) ? await underAccountConcurrency(shared.parameters, clients.lambda, log, hooks.signal) : shared.parameters;
  return runAws({ ...shared, parameters, ...aws, account, step: stepFromEnv(), ...(settings.resume === undefined ? {} : { resume: settings.resume }) }, clients, {
    clock: hooks.clock ?? systemClock,
    log,
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
    ...(hooks.onExecution === undefined ? {} : { onExecution: hooks.onExecution }),
    onProgress: (progress) =>
      hooks.onProgress?.({ total: progress.total, running: progress.started - progress.succeeded - progress.failed, succeeded: progress.succeeded, failed: progress.failed }),
  });
}

async function runOnLocalEngine(settings: RunSettings, hooks: RunHooks, log: (line: string) => void, warn: (line: string) => void): Promise<BatchReport> {
  const startedAt = Date.now();
  // The local engine's S3 requests end when the run is cancelled.
  const s3 = lazyS3Client(settings.s3, { signal: hooks.signal, requestDeadlineMs: CLI_REQUEST_DEADLINE_MS });
  let prepared: Awaited<ReturnType<typeof prepareRun>>;
  let shared: Awaited<ReturnType<typeof common>>;
  const job = settings.resume === undefined ? settings.job : { ...settings.job, resume: settings.resume };
  try {
    if (job.resume !== undefined) {
      // Before any work: the run to resume must have reported its partitions, for this input.
      await abortable(resumePoint(openStore(parseLocation(job.output, 'output'), s3), job.resume, job, openStore(parseInputLocation(job.input), s3)), hooks.signal);
      log(`Resuming run ${job.resume}: only the partitions that failed there run again; the others count the results committed there.`);
    }
    prepared = await abortable(prepareRun(settings, log), hooks.signal);
    shared = await abortable(common(settings, prepared.bundle, s3, log, prepared.concurrency), hooks.signal);
  } catch (error) {
    if (hooks.signal?.aborted === true) return cancelledReport(settings.job, newLocalRunId(startedAt), startedAt, Date.now(), hooks.signal);
    throw error;
  }
  return runLocal({
    ...shared,
    job,
    runId: newLocalRunId(startedAt),
    concurrency: prepared.concurrency,
    s3: settings.s3,
    environment: passedEnvironment(settings.passEnv, warn),
    redactor: hooks.redactor ?? runSecrets(settings),
    lambdaLog: log,
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
  });
}

/** What both engines take: the job, the handler and its bundle, the template and its parameters (the map mode chosen). */
async function common(settings: RunSettings, bundle: HandlerBundle, s3: S3ClientSource, log: (line: string) => void, localEnvironments?: number) {
  return {
    job: settings.job,
    handler: settings.handler,
    bundle,
    ...(settings.template === undefined ? {} : { template: settings.template }),
    parameters: await withMapMode(settings, s3, log, localEnvironments),
  };
}

/**
 * The template's MapMode (and ChildExecutionType) for this run, unless the parameters set them:
 * `auto` plans the input (sizes only) and chooses, saying why in the log.
 */
async function withMapMode(settings: RunSettings, s3: S3ClientSource, log: (line: string) => void, localEnvironments: number | undefined): Promise<Readonly<Record<string, string>>> {
  const { parameters } = settings;
  const askedFor = 'partitions' in settings.job.sizing;
  if (parameters.MapMode !== undefined && !askedFor) return parameters;
  const plan = await planJob(settings.job, { s3 });
  // A partition count asked for and not met (one gzip object is one partition) is said before the run.
  const shortfall = partitionShortfall(plan, settings.job.sizing);
  if (shortfall !== undefined) log(shortfall);
  if (parameters.MapMode !== undefined) return parameters;
  const choice = chooseMapMode(settings.mapMode, {
    partitions: plan.partitions.length,
    maxConcurrency: Number(parameters.MaxConcurrency ?? 0),
    // A gzip partition takes as long as the bytes it decompresses to.
    largestPartitionBytes: Math.max(0, ...plan.partitions.map((partition) => partition.uncompressedBytes ?? partition.bytes)),
    ...(localEnvironments === undefined ? {} : { localEnvironments }),
  });
  log(choice.reason);
  return { ...parameters, MapMode: choice.mapMode, ...(choice.mapMode === 'DISTRIBUTED' && parameters.ChildExecutionType === undefined ? { ChildExecutionType: choice.childExecutionType } : {}) };
}

/** MaxConcurrency under the account's Lambda concurrency, said in the log; unchanged, and said, when the account cannot be read. */
async function underAccountConcurrency(parameters: Readonly<Record<string, string>>, lambda: LambdaClient, log: (line: string) => void, signal?: AbortSignal): Promise<Readonly<Record<string, string>>> {
  const account = await readAccountConcurrency(lambda, signal);
  const maxConcurrency = Number(parameters.MaxConcurrency ?? 0);
  if ('unreadable' in account) {
    log(`Cannot read the account's Lambda concurrency (${account.unreadable}): grant lambda:GetAccountSettings, as template/deploy-role-policy.json does. MaxConcurrency stays ${maxConcurrency === 0 ? 'as many as the Map allows' : maxConcurrency}.`);
    return parameters;
  }
  const capped = concurrencyUnderAccount(maxConcurrency, parameters.MapMode === 'DISTRIBUTED' ? 'DISTRIBUTED' : 'INLINE', account);
  log(capped.reason);
  return capped.maxConcurrency === maxConcurrency ? parameters : { ...parameters, MaxConcurrency: String(capped.maxConcurrency) };
}

/** The values of the variables pass-env names; a name that is not set is said, not passed. */
function passedEnvironment(names: readonly string[], warn: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const missing = names.filter((name) => env[name] === undefined);
  if (missing.length > 0) warn(`pass-env names ${missing.join(', ')}, not set in this environment: the Lambdas do not get ${missing.length === 1 ? 'it' : 'them'}.`);
  return Object.fromEntries(names.filter((name) => env[name] !== undefined).map((name) => [name, env[name]!]));
}

/** Which workflow step this is, from the runner's environment; a one-off identity outside Actions. */
export function stepFromEnv(env: NodeJS.ProcessEnv = process.env): StepIdentity {
  return {
    repository: env.GITHUB_REPOSITORY ?? 'local',
    workflow: env.GITHUB_WORKFLOW ?? 'cli',
    job: env.GITHUB_JOB ?? 'cli',
    step: env.GITHUB_ACTION ?? 'cli',
    runId: env.GITHUB_RUN_ID ?? String(Date.now()),
    runAttempt: Number(env.GITHUB_RUN_ATTEMPT ?? 1),
  };
}
