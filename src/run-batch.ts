import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { runAws } from './aws/aws-engine.ts';
import { systemClock } from './aws/clock.ts';
import type { StepIdentity } from './aws/execution.ts';
import { abortable } from './concurrency.ts';
import { cancelledReport, newLocalRunId, runLocal } from './local/local-engine.ts';
import type { BatchProgress, BatchReport } from './report/batch-report.ts';
import type { RunSettings } from './settings.ts';
import { chooseMapMode } from './plan/map-mode.ts';
import { partitionShortfall } from './plan/partition-plan.ts';
import { prepareRun, type Prepared } from './preflight.ts';
import { runSecrets, type Redactor } from './secrets.ts';
import { planJob } from './steps/steps.ts';
import { lazyS3Client } from './store/open-store.ts';

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
}

/** Runs a batch on the engine the settings name; the CLI and the action both come through here. */
export async function runBatch(settings: RunSettings, hooks: RunHooks = {}): Promise<BatchReport> {
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? log;
  const report = await runOnEngine(settings, hooks, log, warn);
  if (report.status === 'SUCCEEDED' && report.plan?.partitions === 0) {
    warn(`input ${settings.job.input} is empty; allow-empty is set, so the batch succeeded with nothing to do.`);
  }
  return report;
}

async function runOnEngine(settings: RunSettings, hooks: RunHooks, log: (line: string) => void, warn: (line: string) => void): Promise<BatchReport> {
  const startedAt = Date.now();
  // The local engine's S3 requests end when the run is cancelled; the AWS engine stops its own work.
  const s3 = settings.aws === undefined ? lazyS3Client(settings.s3, { signal: hooks.signal }) : lazyS3Client({ region: settings.aws.region });
  let prepared: Prepared;
  let parameters: Readonly<Record<string, string>>;
  try {
    const signal = settings.aws === undefined ? hooks.signal : undefined;
    prepared = await abortable(prepareRun(settings, log), signal);
    parameters = await abortable(withMapMode(settings, s3, log), signal);
  } catch (error) {
    if (settings.aws === undefined && hooks.signal?.aborted === true) return cancelledReport(settings.job, newLocalRunId(startedAt), startedAt, Date.now(), hooks.signal);
    throw error;
  }
  const common = {
    job: settings.job,
    handler: settings.handler,
    bundle: prepared.bundle,
    ...(settings.template === undefined ? {} : { template: settings.template }),
    parameters,
  };
  if (settings.aws !== undefined) {
    const { aws } = settings;
    const clients = {
      cfn: new CloudFormationClient({ region: aws.region }),
      sfn: new SFNClient({ region: aws.region }),
      s3: s3(),
      sts: new STSClient({ region: aws.region }),
    };
    return runAws({ ...common, ...aws, step: stepFromEnv() }, clients, {
      clock: systemClock,
      log,
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      ...(hooks.onExecution === undefined ? {} : { onExecution: hooks.onExecution }),
      onProgress: (progress) =>
        hooks.onProgress?.({ total: progress.total, running: progress.started - progress.succeeded - progress.failed, succeeded: progress.succeeded, failed: progress.failed }),
    });
  }
  return runLocal({
    ...common,
    runId: newLocalRunId(startedAt),
    concurrency: prepared.concurrency,
    s3: settings.s3,
    environment: passedEnvironment(settings.passEnv, warn),
    redactor: hooks.redactor ?? runSecrets(settings),
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
  });
}

/**
 * The template's MapMode (and ChildExecutionType) for this run, unless the parameters set them:
 * `auto` plans the input (sizes only) and chooses, saying why in the log.
 */
async function withMapMode(settings: RunSettings, s3: () => S3Client, log: (line: string) => void): Promise<Readonly<Record<string, string>>> {
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
  });
  log(choice.reason);
  return { ...parameters, MapMode: choice.mapMode, ...(choice.mapMode === 'DISTRIBUTED' && parameters.ChildExecutionType === undefined ? { ChildExecutionType: choice.childExecutionType } : {}) };
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
