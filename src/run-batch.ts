import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { runAws } from './aws/aws-engine.ts';
import { systemClock } from './aws/clock.ts';
import type { StepIdentity } from './aws/execution.ts';
import { runLocal } from './local/local-engine.ts';
import type { BatchProgress, BatchReport } from './report/batch-report.ts';
import type { RunSettings } from './settings.ts';

export interface RunHooks {
  readonly onProgress?: (progress: BatchProgress) => void;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  /** The AWS execution's ARN, as soon as it is known. */
  readonly onExecution?: (executionArn: string) => void;
}

/** Runs a batch on the engine the settings name; the CLI and the action both come through here. */
export function runBatch(settings: RunSettings, hooks: RunHooks = {}): Promise<BatchReport> {
  const common = {
    job: settings.job,
    handler: settings.handler,
    ...(settings.template === undefined ? {} : { template: settings.template }),
    parameters: settings.parameters,
  };
  if (settings.aws !== undefined) {
    const { aws } = settings;
    const clients = {
      cfn: new CloudFormationClient({ region: aws.region }),
      sfn: new SFNClient({ region: aws.region }),
      s3: new S3Client({ region: aws.region }),
      sts: new STSClient({ region: aws.region }),
    };
    return runAws({ ...common, ...aws, step: stepFromEnv() }, clients, {
      clock: systemClock,
      log: hooks.log ?? (() => {}),
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      ...(hooks.onExecution === undefined ? {} : { onExecution: hooks.onExecution }),
      onProgress: (progress) =>
        hooks.onProgress?.({ total: progress.total, running: progress.started - progress.succeeded - progress.failed, succeeded: progress.succeeded, failed: progress.failed }),
    });
  }
  return runLocal({
    ...common,
    concurrency: settings.concurrency,
    s3: settings.s3,
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
  });
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
