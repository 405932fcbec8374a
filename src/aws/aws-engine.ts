import { readFile } from 'node:fs/promises';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { createHash } from 'node:crypto';
import { InputError, errorMessage } from '../errors.ts';
import { toJobRequest, type Job } from '../job.ts';
import { parseInputLocation, parseLocation } from '../location.ts';
import { BATCH_FILE, runKey } from '../partition/outcome.ts';
import { buildReport, type BatchReport, type ReportLink } from '../report/batch-report.ts';
import { estimateCost } from '../report/cost.ts';
import type { AwsSettings } from '../settings.ts';
import type { BatchFile } from '../steps/steps.ts';
import { readJson } from '../store/read-json.ts';
import { locationParameters } from '../store/bucket-names.ts';
import { S3Store } from '../store/s3-store.ts';
import type { Clock } from './clock.ts';
import { buildCodePackage, codeKey, uploadIfAbsent } from './code-package.ts';
import { deleteStack, deployStack, type DeployDeps } from './deploy.ts';
import { executionArnOf, executionName, redrive, startOrAttach, waitForExecution, type StepIdentity } from './execution.ts';
import type { MapProgress } from './map-progress.ts';
import { bundledTemplate, defaultTemplatePath } from '../local/template-definition.ts';
import { functionArchitecture } from '../local/template-parameters.ts';
import { bundleHandler, type HandlerBundle } from '../handler/bundle.ts';

export interface AwsClients {
  readonly cfn: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly sts: STSClient;
}

export interface AwsRunOptions extends AwsSettings {
  readonly job: Job;
  readonly handler: string;
  /** Its bundle, when the caller built it already (the run's preflight does). */
  readonly bundle?: HandlerBundle;
  readonly template?: string;
  /** Template parameters set by the user (memory, timeouts, MaxConcurrency, ...). */
  readonly parameters: Readonly<Record<string, string>>;
  readonly step: StepIdentity;
}

export interface AwsRunDeps {
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: MapProgress, status: string) => void;
  /** Called as soon as the execution is known, so a cancelled job can still stop it. */
  readonly onExecution?: (executionArn: string) => void;
}

export const BOOTSTRAP_STACK = 'sfn-fanout-bootstrap';

/**
 * The batch in AWS: package the code, deploy the stack through a change set, start (or attach to,
 * or redrive) one execution, wait for it, and report it from the batch file the reducer wrote.
 */
export async function runAws(options: AwsRunOptions, clients: AwsClients, deps: AwsRunDeps): Promise<BatchReport> {
  const input = parseInputLocation(options.job.input);
  const output = parseLocation(options.job.output, 'output');
  if (input.kind !== 's3' || output.kind !== 's3') {
    throw new InputError('engine aws reads and writes S3: give input and output as s3://bucket/prefix/ (or use engine local for directories).');
  }
  await checkCredentials(clients.sts);
  const deployDeps: DeployDeps = {
    clock: deps.clock,
    log: deps.log,
    uploadTemplate: async (body) => {
      const bucket = options.artifactBucket ?? (await bootstrapBucket());
      const key = `sfn-fanout/templates/${createHash('sha256').update(body).digest('hex')}.yaml`;
      await uploadIfAbsent(clients.s3, bucket, key, Buffer.from(body));
      return `https://${bucket}.s3.${options.region}.amazonaws.com/${key}`;
    },
  };
  let bootstrapped: string | undefined;
  async function bootstrapBucket(): Promise<string> {
    if (bootstrapped !== undefined) return bootstrapped;
    const body = await readFile(bundledTemplate('bootstrap.yaml'), 'utf8');
    const stack = await deployStack(clients.cfn, { stackName: BOOTSTRAP_STACK, templateBody: body, parameters: {}, capabilities: [], tags: options.tags }, deployDeps);
    return (bootstrapped = stack.outputs.BucketName!);
  }

  const artifactBucket = options.artifactBucket ?? (await bootstrapBucket());
  const bundle = options.bundle ?? (await bundleHandler(options.handler, { log: deps.log }));
  const pkg = await buildCodePackage(bundle, { architecture: await functionArchitecture(options.template ?? defaultTemplatePath(), options.parameters) });
  const key = codeKey(pkg);
  deps.log((await uploadIfAbsent(clients.s3, artifactBucket, key, pkg.zip)) ? `Uploaded the code to s3://${artifactBucket}/${key}.` : `The code is already at s3://${artifactBucket}/${key}.`);

  try {
    const stack = await deployStack(
      clients.cfn,
      {
        stackName: options.stackName,
        templateBody: await readFile(options.template ?? defaultTemplatePath(), 'utf8'),
        parameters: {
          ArtifactBucket: artifactBucket,
          CodeKey: key,
          HandlerPath: pkg.handlerEntry,
          ...locationParameters(input, output),
          ...options.parameters,
        },
        capabilities: options.capabilities,
        tags: options.tags,
        ...(options.roleArn === undefined ? {} : { roleArn: options.roleArn }),
        ...(options.terminationProtection === undefined ? {} : { terminationProtection: options.terminationProtection }),
      },
      deployDeps,
    );
    const stateMachineArn = stack.outputs.StateMachineArn;
    if (stateMachineArn === undefined) throw new InputError(`Stack ${options.stackName} has no StateMachineArn output: the template must export it.`);
    const name = executionName(options.step);
    let executionArn: string;
    if (options.redrive !== undefined) {
      executionArn = options.redrive === 'previous-attempt' ? executionArnOf(stateMachineArn, executionName(options.step, options.step.runAttempt - 1)) : options.redrive;
      deps.log(`Redriving ${executionArn}.`);
      await redrive(clients.sfn, executionArn);
    } else {
      const started = await startOrAttach(clients.sfn, stateMachineArn, name, toJobRequest(options.job));
      executionArn = started.executionArn;
      deps.log(started.attached ? `Execution ${name} already exists: attaching to it instead of starting another.` : `Started execution ${executionArn}.`);
    }
    deps.onExecution?.(executionArn);
    const startedAt = deps.clock.now();
    const final = await waitForExecution(clients.sfn, executionArn, {
      clock: deps.clock,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(deps.signal === undefined ? {} : { signal: deps.signal }),
      ...(deps.onProgress === undefined ? {} : { onProgress: deps.onProgress }),
    });
    const runId = executionArn.split(':').at(-1)!;
    const batch = await readJson<BatchFile>(new S3Store(clients.s3, output.bucket, output.prefix), runKey(runId, BATCH_FILE)).catch(() => undefined);
    const report = buildReport(
      {
        engine: 'aws',
        runId,
        input: options.job.input,
        output: options.job.output,
        format: options.job.format,
        startedAt: final.startDate?.getTime() ?? startedAt,
        finishedAt: final.stopDate?.getTime() ?? deps.clock.now(),
        ...(final.status === 'SUCCEEDED' ? {} : { error: { name: final.error ?? final.status ?? 'Failed', cause: final.cause ?? `The execution ended ${final.status}.` } }),
        links: consoleLinks(options.region, executionArn, stack.stackId),
      },
      batch,
    );
    return { ...report, cost: estimateCost(report, Number(options.parameters.WorkerMemorySize ?? 1769), options.prices), aws: { executionArn, stackId: stack.stackId } };
  } finally {
    // Ephemeral stacks go even when the deploy or the run failed; a failed delete must not hide why.
    if (options.deleteStack) {
      await deleteStack(clients.cfn, options.stackName, deployDeps).catch((error: unknown) => deps.log(`Could not delete stack ${options.stackName}: ${errorMessage(error)}`));
    }
  }
}

async function checkCredentials(sts: STSClient): Promise<void> {
  try {
    await sts.send(new GetCallerIdentityCommand({}));
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (name === 'CredentialsProviderError' || /credential/i.test(errorMessage(error))) {
      throw new InputError(
        'No AWS credentials were found. Add a step before this one: uses: aws-actions/configure-aws-credentials@v4 with role-to-assume and aws-region, and give the job permissions: id-token: write.',
        { cause: error },
      );
    }
    throw new InputError(`The AWS credentials do not work: ${errorMessage(error)} (${name}).`, { cause: error });
  }
}

export function consoleLinks(region: string, executionArn: string, stackId: string): ReportLink[] {
  const base = `https://${region}.console.aws.amazon.com`;
  return [
    { label: 'Execution in the Step Functions console', url: `${base}/states/home?region=${region}#/v2/executions/details/${executionArn}` },
    { label: 'Stack in the CloudFormation console', url: `${base}/cloudformation/home?region=${region}#/stacks/stackinfo?stackId=${encodeURIComponent(stackId)}` },
  ];
}
