import { readFile } from 'node:fs/promises';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { createHash } from 'node:crypto';
import { InputError, errorMessage } from '../errors.ts';
import { parseRunId, toJobRequest, type Job } from '../job.ts';
import { parseInputLocation, parseLocation } from '../location.ts';
import { buildReport, type BatchReport, type ReportLink } from '../report/batch-report.ts';
import { estimateCost } from '../report/cost.ts';
import { combinedError, readRunFiles } from '../report/run-files.ts';
import type { AwsSettings } from '../settings.ts';
import { locationParameters } from '../store/bucket-names.ts';
import { S3Store } from '../store/s3-store.ts';
import type { Clock } from './clock.ts';
import { buildCodePackage, codeKey, uploadIfAbsent } from './code-package.ts';
import { deleteStack, deployStack, describeStack, outputsOf, requestStackDeletion, type DeployDeps, type DeployWaits } from './deploy.ts';
import { executionName, jobLeg, startOrAttach, stopExecution, waitForExecution, type StepIdentity } from './execution.ts';
import type { MapProgress } from './map-progress.ts';
import { partitionOf, s3ObjectUrl } from './partition.ts';
import { BOOTSTRAP_STACK, checkStackName } from './stack-names.ts';
import { checkTemplateReferences } from './template-references.ts';
import { bundledTemplate, defaultTemplatePath } from '../local/template-definition.ts';
import { functionArchitecture } from '../local/template-parameters.ts';
import { bundleHandler, type HandlerBundle } from '../handler/bundle.ts';
import { resumePoint } from '../partition/resume.ts';

export interface AwsClients {
  readonly cfn: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly s3: S3Client;
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
  /** The caller's account (STS GetCallerIdentity): the artifact bucket must belong to it. */
  readonly account: string;
  /** The run to resume: a run id, `previous-attempt` (this step's execution in the previous run attempt) or an execution ARN. */
  readonly resume?: string;
}

export interface AwsRunDeps {
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** The first SIGINT or SIGTERM: every phase stops within seconds, and a started execution is stopped. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: MapProgress, status: string) => void;
  /** Called as soon as the execution is known, so a cancelled job can still stop it. */
  readonly onExecution?: (executionArn: string) => void;
  readonly waits?: DeployWaits;
}

/** How long a failed run waits for its execution to stop before deleting the stack anyway. */
const STOP_CONFIRM_MS = 60_000;

/**
 * The batch in AWS: package the code, deploy the stack through a change set, start (or attach to)
 * one execution, wait for it, and report it from the batch file the reducer wrote. A resumed run
 * is an execution like any other, whose input names the run it resumes.
 */
export async function runAws(options: AwsRunOptions, clients: AwsClients, deps: AwsRunDeps): Promise<BatchReport> {
  const input = parseInputLocation(options.job.input);
  const output = parseLocation(options.job.output, 'output');
  if (input.kind !== 's3' || output.kind !== 's3') {
    throw new InputError('engine aws reads and writes S3: give input and output as s3://bucket/prefix/ (or use engine local for directories).');
  }
  const templateBody = await readFile(options.template ?? defaultTemplatePath(), 'utf8');
  checkStackName(options.stackName, templateBody);
  checkTemplateReferences(templateBody, options.template ?? defaultTemplatePath());
  const outputStore = new S3Store(clients.s3, output.bucket, output.prefix);
  const step: StepIdentity = { ...options.step, leg: jobLeg(options.job) };
  const job = options.resume === undefined ? options.job : { ...options.job, resume: resumedRunId(options.resume, step, { region: options.region, account: options.account, stateMachine: `${options.stackName}-fanout` }) };
  if (job.resume !== undefined) {
    // Before any deploy: the run to resume must have reported its partitions, for this input.
    await resumePoint(outputStore, job.resume, job);
    deps.log(`Resuming run ${job.resume}: only the partitions that failed there run again; the others count the results committed there.`);
  }
  let artifactBucket = options.artifactBucket;
  const upload = { expectedOwner: options.account, ...(deps.signal === undefined ? {} : { signal: deps.signal }) };
  const deployDeps: DeployDeps = {
    clock: deps.clock,
    log: deps.log,
    ...(deps.signal === undefined ? {} : { signal: deps.signal }),
    ...(deps.waits === undefined ? {} : { waits: deps.waits }),
    // Only the stack's own template gets this big, and the artifact bucket is known by then.
    uploadTemplate: async (body) => {
      const key = `sfn-fanout/templates/${createHash('sha256').update(body).digest('hex')}.yaml`;
      await uploadIfAbsent(clients.s3, artifactBucket!, key, Buffer.from(body), upload);
      return s3ObjectUrl(options.region, artifactBucket!, key);
    },
  };
  if (options.deleteStack && options.terminationProtection !== false && (await describeStack(clients.cfn, options.stackName, deployDeps))?.EnableTerminationProtection === true) {
    // Found now, not when the delete fails after the run and leaves the stack behind.
    throw new InputError(`delete-stack is true, but stack ${options.stackName} has termination protection on, so CloudFormation would refuse to delete it after the run: set termination-protection to false to turn it off in this run, or leave delete-stack off.`);
  }
  artifactBucket ??= await bootstrapBucket(clients.cfn, options.roleArn, `sfn-fanout-${options.account}-${options.region}`, deployDeps);
  const bundle = options.bundle ?? (await bundleHandler(options.handler, { log: deps.log }));
  const pkg = await buildCodePackage(bundle, { architecture: await functionArchitecture(options.template ?? defaultTemplatePath(), options.parameters) });
  const key = codeKey(pkg);
  deps.log((await uploadIfAbsent(clients.s3, artifactBucket, key, pkg.zip, upload)) ? `Uploaded the code to s3://${artifactBucket}/${key}.` : `The code is already at s3://${artifactBucket}/${key}.`);

  let executionArn: string | undefined;
  let closed = false;
  try {
    const stack = await deployStack(
      clients.cfn,
      {
        stackName: options.stackName,
        templateBody,
        parameters: {
          ArtifactBucket: artifactBucket,
          CodeKey: key,
          HandlerPath: pkg.handlerEntry,
          ...locationParameters(input, output),
          ...options.parameters,
        },
        capabilities: options.capabilities,
        tags: options.tags,
        ephemeral: options.deleteStack,
        ...(options.roleArn === undefined ? {} : { roleArn: options.roleArn }),
        ...(options.terminationProtection === undefined ? {} : { terminationProtection: options.terminationProtection }),
      },
      deployDeps,
    );
    const stateMachineArn = requireOutput(stack.outputs, options.stackName, 'StateMachineArn', 'the template must output its state machine: Outputs: StateMachineArn: Value: !Ref StateMachine.');
    const name = executionName(step);
    const started = await startOrAttach(clients.sfn, stateMachineArn, name, toJobRequest(job), deps.signal, deps.clock.now());
    executionArn = started.executionArn;
    deps.log(started.attached ? `Execution ${name} already exists: attached to it instead of starting another (${executionArn}).` : `Started execution ${executionArn}.`);
    deps.onExecution?.(executionArn);
    const startedAt = deps.clock.now();
    const final = await waitForExecution(clients.sfn, executionArn, {
      clock: deps.clock,
      log: deps.log,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(deps.signal === undefined ? {} : { signal: deps.signal }),
      ...(deps.onProgress === undefined ? {} : { onProgress: deps.onProgress }),
    });
    closed = true;
    const runId = executionArn.split(':').at(-1)!;
    const files = await readRunFiles(outputStore, runId);
    const failure = final.status === 'SUCCEEDED' ? undefined : { name: final.error ?? final.status ?? 'Failed', cause: final.cause ?? `The execution ended ${final.status}.` };
    const error = files.unreadable === undefined ? failure : combinedError(failure, files.unreadable);
    const report = buildReport(
      {
        engine: 'aws',
        runId,
        input: options.job.input,
        output: options.job.output,
        format: options.job.format,
        startedAt: final.startDate?.getTime() ?? startedAt,
        finishedAt: final.stopDate?.getTime() ?? deps.clock.now(),
        committed: files.committed,
        ...(error === undefined ? {} : { error }),
        links: consoleLinks(options.region, executionArn, stack.stackId, stack.outputs.StateMachineLogGroup),
      },
      files.batch,
    );
    return { ...report, cost: estimateCost(report, Number(options.parameters.WorkerMemorySize ?? 1769), options.prices), aws: { executionArn, stackId: stack.stackId } };
  } finally {
    // Ephemeral stacks go even when the deploy or the run failed; a failed delete must not hide why.
    if (options.deleteStack) await removeEphemeralStack(clients, options.stackName, closed ? undefined : executionArn, deployDeps);
  }
}

/**
 * Deletes the run's stack. An execution the run left running is stopped first, so its Lambdas are
 * not deleted under it; a cancelled run only asks for the deletion, as it must end within seconds.
 */
async function removeEphemeralStack(clients: AwsClients, stackName: string, runningExecution: string | undefined, deps: DeployDeps): Promise<void> {
  const warn = (what: string) => (error: unknown) => deps.log(`Could not ${what}: ${errorMessage(error)}`);
  if (deps.signal?.aborted === true) {
    await requestStackDeletion(clients.cfn, stackName, deps.log).catch(warn(`delete stack ${stackName}`));
    return;
  }
  if (runningExecution !== undefined) {
    deps.log(`Stopping ${runningExecution} before deleting its stack.`);
    await stopExecution(clients.sfn, runningExecution, 'sfn-fanout stopped the execution: the run failed and its stack is being deleted.')
      .then(() => waitForExecution(clients.sfn, runningExecution, { clock: deps.clock, signal: AbortSignal.timeout(STOP_CONFIRM_MS) }))
      .catch(warn(`confirm that ${runningExecution} stopped`));
  }
  await deleteStack(clients.cfn, stackName, deps).catch(warn(`delete stack ${stackName}`));
}

/**
 * The artifact bucket of the bootstrap stack, which is created on first use: with the run's
 * role-arn (CloudFormation's service role creates the bucket) and without the run's tags (the
 * stack is shared by every stack in the account and region). An existing one is used as it is.
 */
async function bootstrapBucket(cfn: CloudFormationClient, roleArn: string | undefined, bucketName: string, deps: DeployDeps): Promise<string> {
  const hint = `it was not made by sfn-fanout's template/bootstrap.yaml: give artifact-bucket, or delete stack ${BOOTSTRAP_STACK} so the next run creates it.`;
  const existing = await describeStack(cfn, BOOTSTRAP_STACK, deps);
  if (existing !== undefined && /^(CREATE|UPDATE|UPDATE_ROLLBACK)_COMPLETE$/.test(existing.StackStatus ?? '')) {
    return requireOutput(outputsOf(existing), BOOTSTRAP_STACK, 'BucketName', hint);
  }
  const body = await readFile(bundledTemplate('bootstrap.yaml'), 'utf8');
  const stack = await deployStack(cfn, { stackName: BOOTSTRAP_STACK, templateBody: body, parameters: {}, capabilities: [], tags: {}, ...(roleArn === undefined ? {} : { roleArn }) }, deps).catch((error: unknown) => {
    if (deps.signal?.aborted === true) throw error;
    // Bucket names are global: another account may hold this one, and then no deploy here can create it.
    throw new InputError(`Could not create the artifact bucket ${bucketName} (stack ${BOOTSTRAP_STACK}): ${errorMessage(error)} If another AWS account already has a bucket of that name, set artifact-bucket to a bucket of your own account.`, { cause: error });
  });
  return requireOutput(stack.outputs, BOOTSTRAP_STACK, 'BucketName', hint);
}

/** Where this run's executions are: an execution ARN given to resume must be one of them. */
export interface ExecutionHome {
  readonly region: string;
  readonly account: string;
  readonly stateMachine: string;
}

/** The run id (execution name) a `resume` setting names. */
export function resumedRunId(resume: string, step: StepIdentity, home?: ExecutionHome): string {
  if (resume === 'previous-attempt') {
    if (step.runAttempt < 2) {
      throw new InputError('resume previous-attempt resumes the execution of this step in the previous run attempt, and this is the first attempt: re-run the failed jobs of the workflow run (its next attempt resumes this one), or give the run id to resume.');
    }
    return executionName(step, step.runAttempt - 1);
  }
  if (!resume.startsWith('arn:')) return parseRunId(resume, 'resume');
  // An execution ARN ends with the execution's name, which is its run id.
  const [, , service, region, account, type, stateMachine, name] = resume.split(':');
  if (service !== 'states' || type !== 'execution' || name === undefined) throw new InputError(`resume "${resume}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>).`);
  if (home !== undefined && (region !== home.region || account !== home.account || stateMachine !== home.stateMachine)) {
    throw new InputError(
      `resume ${resume} is an execution of state machine ${stateMachine} in ${region}, account ${account}; this run's executions are those of ${home.stateMachine} in ${home.region}, account ${home.account}. Give an execution of this stack, or its run id (the execution's name) if that run wrote to this output.`,
    );
  }
  return parseRunId(name, 'resume');
}

function requireOutput(outputs: Readonly<Record<string, string>>, stackName: string, name: string, hint: string): string {
  const value = outputs[name];
  if (value === undefined || value === '') {
    const has = Object.keys(outputs);
    throw new InputError(`Stack ${stackName} has no ${name} output (${has.length === 0 ? 'it has no outputs' : `its outputs: ${has.join(', ')}`}): ${hint}`);
  }
  return value;
}

/**
 * Says how to set up credentials when there are none; called before anything else touches AWS, so
 * the SDK's "Could not load credentials from any providers" never reaches the user. Returns the
 * caller's account.
 */
export async function checkCredentials(sts: STSClient, signal?: AbortSignal): Promise<string> {
  let account: string | undefined;
  try {
    ({ Account: account } = await sts.send(new GetCallerIdentityCommand({}), signal === undefined ? {} : { abortSignal: signal }));
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
  if (account === undefined) throw new InputError('STS GetCallerIdentity gave no account: the credentials cannot be checked against the artifact bucket.');
  return account;
}

/**
 * Links to the execution, the stack and the state machine's error log (the only trace of an EXPRESS
 * child that failed) in the console of the region's partition; none where that console is not public.
 */
export function consoleLinks(region: string, executionArn: string, stackId: string, logGroup?: string): ReportLink[] {
  const base = partitionOf(region).console;
  if (base === undefined) return [];
  return [
    { label: 'Execution in the Step Functions console', url: `${base}/states/home?region=${region}#/v2/executions/details/${executionArn}` },
    { label: 'Stack in the CloudFormation console', url: `${base}/cloudformation/home?region=${region}#/stacks/stackinfo?stackId=${encodeURIComponent(stackId)}` },
    // The CloudWatch console's fragment escapes a log group's name with $ for %: /aws/x is $252Faws$252Fx.
    ...(logGroup === undefined ? [] : [{ label: 'State machine errors in CloudWatch Logs (EXPRESS children’s too)', url: `${base}/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${encodeURIComponent(encodeURIComponent(logGroup)).replace(/%/g, '$')}` }]),
  ];
}
