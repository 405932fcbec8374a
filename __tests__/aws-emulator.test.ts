import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, CreateChangeSetCommand, CreateStackCommand, DeleteStackCommand, DescribeChangeSetCommand, DescribeStackEventsCommand, DescribeStacksCommand, ExecuteChangeSetCommand, GetTemplateCommand, UpdateTerminationProtectionCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, DescribeExecutionCommand, DescribeStateMachineCommand, ExecutionAlreadyExists, GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import aslValidator from 'asl-validator';
import { uploadIfAbsent } from '../src/aws/code-package.ts';
import { executionName, jobLeg } from '../src/aws/execution.ts';
import { main } from '../src/cli.ts';
import { parseJob, toJobRequest } from '../src/job.ts';
import { stepFromEnv } from '../src/run-batch.ts';
import { tempDir } from './helpers/corpus.ts';
import { batchFile, fakeExecution, fakeStacks, stackNotFound } from './helpers/fake-aws.ts';
import { allows, changeSetStacks, documentedPolicy, iamRequestsOf } from './helpers/iam-policy.ts';
import { ACCOUNT, TEST_CREDENTIALS, describeWithMoto, setEnv, startMoto, useMoto, type Answer, type Moto, type WireCall } from './helpers/moto.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';
import { partitionOf } from '../src/aws/partition.ts';
import { rowName, type BatchReport } from '../src/report/batch-report.ts';
import { runLocal } from '../src/local/local-engine.ts';
import type { RunManifest } from '../src/partition/commit.ts';
import type { WorkEvent } from '../src/steps/steps.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const REGION = 'us-east-1';
const CFN_ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn-fanout-cloudformation`;
const ARTIFACTS = `sfn-fanout-${ACCOUNT}-${REGION}`;

interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** The calls this run made, as they crossed the wire. */
  readonly calls: WireCall[];
  readonly clock: VirtualClock;
}

interface CliOptions {
  readonly region?: string;
  readonly input?: string;
  readonly output?: string;
  /** The workflow step this run is (GITHUB_* variables): a step retried keeps them. */
  readonly step?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Where the run's (virtual) clock starts: later than now for a step that comes back to an execution started earlier. */
  readonly clockAt?: number;
}

describeWithMoto('the AWS engine through the CLI, against moto', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  const direct = (region = REGION) => ({
    cfn: new CloudFormationClient({ region, endpoint: moto.direct, credentials: TEST_CREDENTIALS }),
    sfn: new SFNClient({ region, endpoint: moto.direct, credentials: TEST_CREDENTIALS }),
    s3: new S3Client({ region, endpoint: moto.direct, credentials: TEST_CREDENTIALS, forcePathStyle: true }),
  });

  async function buckets(region: string, names: string[]): Promise<void> {
    const { s3 } = direct(region);
    for (const Bucket of names) {
      await s3.send(new CreateBucketCommand({ Bucket, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }) }));
      await s3.send(new PutObjectCommand({ Bucket, Key: 'day/a.ndjson', Body: '{"path":"/a","status":200}\n{"path":"/b","status":404}\n' }));
    }
  }

  beforeAll(async () => {
    moto = await startMoto();
    restoreEnv = useMoto(moto);
    await buckets(REGION, ['logs-in', 'results-out']);
  }, 60_000);
  afterAll(async () => {
    restoreEnv?.();
    await moto?.stop();
  });
  afterEach(() => moto.reset());

  /** Runs `sfn-fanout run --engine aws` as a user would, on a clock whose sleeps take no time. */
  async function cli(stack: string, extra: string[] = [], options: CliOptions = {}): Promise<CliRun> {
    const before = moto.calls.length;
    const restoreStep = setEnv(options.step ?? {});
    let out = '';
    let err = '';
    const clock = new VirtualClock(options.clockAt ?? Date.now());
    try {
      const code = await main(
        ['run', '--engine', 'aws', '--region', options.region ?? REGION, '--stack-name', stack, '--input', options.input ?? 's3://logs-in/day/', '--output', options.output ?? `s3://results-out/${stack}/`, '--handler', exampleHandler, ...extra],
        { out: (text) => void (out += text), err: (text) => void (err += text), tty: false, clock, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      );
      return { code, out, err, calls: moto.calls.slice(before), clock };
    } finally {
      restoreStep();
    }
  }

  /** For a run whose test is about something else: its execution answers as already stopped, saving a minute of (virtual) polling. */
  function endsAtOnce(stack: string): void {
    moto.answer((call) =>
      call.operation === 'DescribeExecution' && call.params.executionArn?.includes(`:${stack}-fanout:`) === true
        ? { status: 200, body: { executionArn: call.params.executionArn, stateMachineArn: call.params.executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, ''), name: call.params.executionArn.split(':').at(-1), status: 'ABORTED', startDate: 1_795_000_000, stopDate: 1_795_000_001, input: '{}' } }
        : undefined,
    );
  }

  const named = (calls: readonly WireCall[], operation: string) => calls.filter((call) => call.operation === operation);

  /** Every call of the run is one the documented deploy role allows, for the run's stack and locations. */
  async function expectDeployRoleAllows(run: CliRun, stack: string, region = REGION, locations: { input: string; output: string; inputPrefix?: string } = { input: 'logs-in', output: 'results-out' }): Promise<void> {
    const policy = await documentedPolicy('template/deploy-role-policy.json', {
      Partition: partitionOf(region).name,
      Region: region,
      Account: ACCOUNT,
      StackName: stack,
      CloudFormationServiceRole: 'sfn-fanout-cloudformation',
      InputBucket: locations.input,
      InputPrefix: locations.inputPrefix ?? 'day/',
      OutputBucket: locations.output,
      OutputPrefix: `${stack}/`,
    });
    const changeSets = changeSetStacks(moto.calls);
    const requests = run.calls.flatMap((call) => iamRequestsOf(call, ACCOUNT, changeSets));
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((request) => !allows(policy, request))).toEqual([]);
  }

  async function describeStack(name: string, region = REGION): Promise<Stack> {
    return (await direct(region).cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
  }

  async function deployedDefinition(stack: string, region = REGION): Promise<Record<string, unknown>> {
    const arn = `arn:${partitionOf(region).name}:states:${region}:${ACCOUNT}:stateMachine:${stack}-fanout`;
    return JSON.parse((await direct(region).sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }))).definition!) as Record<string, unknown>;
  }

  /** The name of the execution a run of this step (GITHUB_* variables) over this input and output starts. */
  const nameOf = (env: Record<string, string>, input = 's3://logs-in/day/', output: string) => executionName({ ...stepFromEnv(env), leg: jobLeg({ input, output }) });
  const stepEnv = (runId: string) => ({ GITHUB_REPOSITORY: 'acme/logs', GITHUB_WORKFLOW: 'nightly', GITHUB_JOB: 'batch', GITHUB_ACTION: 'fanout', GITHUB_RUN_ID: runId, GITHUB_RUN_ATTEMPT: '1' });

  describe('one stack over several runs', () => {
    /** What every later run of this stack passes: no change to deploy unless a test makes one. */
    const NIGHTLY = ['--role-arn', CFN_ROLE, '--tags', '{"team": "data"}', '--termination-protection', 'true'];
    let first: CliRun;
    beforeAll(async () => {
      first = await cli('nightly', ['--role-arn', CFN_ROLE, '--tags', '{"team": "data"}', '--timeout-minutes', '1']);
    });

    it('bootstraps the artifact bucket under its documented name, with the run’s CloudFormation role and none of its tags (B3)', async () => {
      const bootstrap = await describeStack('sfn-fanout-bootstrap');
      expect(bootstrap).toMatchObject({ StackStatus: 'CREATE_COMPLETE', RoleARN: CFN_ROLE, Tags: [], Outputs: [{ OutputKey: 'BucketName', OutputValue: ARTIFACTS }] });
      await direct().s3.send(new HeadBucketCommand({ Bucket: ARTIFACTS }));
      const create = named(first.calls, 'CreateChangeSet').find((call) => call.params.StackName === 'sfn-fanout-bootstrap')!;
      expect(create.params).toMatchObject({ ChangeSetType: 'CREATE', RoleARN: CFN_ROLE });
      expect(Object.keys(create.params).filter((key) => key.startsWith('Tags') || key.startsWith('Capabilities'))).toEqual([]);
    });

    it('uploads the code zip under the hash of its bytes', async () => {
      const put = named(first.calls, 'PutObject').find((call) => call.params.Key?.startsWith('sfn-fanout/code/'))!;
      expect(put.params.Bucket).toBe(ARTIFACTS);
      const zip = Buffer.from(await (await direct().s3.send(new GetObjectCommand({ Bucket: ARTIFACTS, Key: put.params.Key }))).Body!.transformToByteArray());
      expect(put.params.Key).toBe(`sfn-fanout/code/${createHash('sha256').update(zip).digest('hex')}.zip`);
      expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
      // Every call on the artifact bucket says whose it must be: S3 refuses it when another account owns the bucket.
      expect(first.calls.filter((call) => call.params.Bucket === ARTIFACTS).map((call) => [call.operation, call.params.ExpectedBucketOwner])).toEqual([
        ['HeadObject', ACCOUNT],
        ['PutObject', ACCOUNT],
      ]);
    });

    it('creates the stack through a CREATE change set with the run’s tags, and deploys a valid definition in the region’s partition', async () => {
      expect(named(first.calls, 'CreateChangeSet').find((call) => call.params.StackName === 'nightly')!.params).toMatchObject({ ChangeSetType: 'CREATE', 'Tags.member.1.Key': 'team', 'Tags.member.1.Value': 'data', 'Capabilities.member.1': 'CAPABILITY_IAM' });
      expect(await describeStack('nightly')).toMatchObject({ StackStatus: 'CREATE_COMPLETE', Tags: [{ Key: 'team', Value: 'data' }] });
      const definition = await deployedDefinition('nightly');
      expect(aslValidator(definition).errorsText('\n')).toBe('');
      // Errors (EXPRESS children's included) go to a log group of the stack, with its retention.
      const machine = await direct().sfn.send(new DescribeStateMachineCommand({ stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:nightly-fanout` }));
      expect(machine.loggingConfiguration).toEqual({ level: 'ERROR', includeExecutionData: true, destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: expect.stringMatching(new RegExp(`^arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/vendedlogs/states/sfn-fanout/nightly`)) } }] });
      expect((await describeStack('nightly')).Outputs).toContainEqual(expect.objectContaining({ OutputKey: 'StateMachineLogGroup', OutputValue: '/aws/vendedlogs/states/sfn-fanout/nightly' }));
      expect(JSON.stringify(definition).match(/"Resource":"[^"]+"/g)).toEqual(Array(7).fill('"Resource":"arn:aws:states:::lambda:invoke"'));
    });

    it('stops the execution once it runs past timeout-minutes, and reports it', async () => {
      expect(first.code).toBe(1);
      const [stop] = named(first.calls, 'StopExecution');
      expect(stop!.params).toMatchObject({ error: 'SfnFanout.Stopped', cause: 'sfn-fanout stopped the execution: it ran past the timeout of 60 s.' });
      expect((await direct().sfn.send(new DescribeExecutionCommand({ executionArn: stop!.params.executionArn }))).status).toBe('ABORTED');
      expect(first.out).toContain('SfnFanout.Stopped: sfn-fanout stopped the execution: it ran past the timeout of 60 s.');
      const waited = first.clock.sleeps.reduce((sum, ms) => sum + ms, 0);
      expect(waited).toBeGreaterThanOrEqual(60_000);
      expect(waited).toBeLessThan(90_000);
    });

    it('makes only calls the documented deploy role allows (bootstrap, upload, CREATE, timeout stop)', async () => {
      await expectDeployRoleAllows(first, 'nightly');
    });

    it('skips the upload and changes nothing when nothing changed, and still turns termination protection on (B8)', async () => {
      endsAtOnce('nightly');
      const again = await cli('nightly', NIGHTLY);
      expect(again.err).toMatch(/The code is already at s3:\/\/sfn-fanout-123456789012-us-east-1\/sfn-fanout\/code\/[0-9a-f]{64}\.zip\./);
      expect(again.err).toContain('Stack nightly is up to date: nothing to change.');
      expect(named(again.calls, 'PutObject')).toEqual([]);
      expect(named(again.calls, 'ExecuteChangeSet')).toEqual([]);
      expect(named(again.calls, 'DeleteChangeSet')).toHaveLength(1);
      expect((await describeStack('nightly')).EnableTerminationProtection).toBe(true);
      await expectDeployRoleAllows(again, 'nightly');
    });

    it('refuses delete-stack on a stack with termination protection before deploying, instead of failing to delete it after the run', async () => {
      await direct().cfn.send(new UpdateTerminationProtectionCommand({ StackName: 'nightly', EnableTerminationProtection: true }));
      const run = await cli('nightly', [...NIGHTLY.filter((arg) => arg !== '--termination-protection' && arg !== 'true'), '--delete-stack', 'true']);
      expect(run.code).toBe(2);
      expect(run.err).toContain('delete-stack is true, but stack nightly has termination protection on, so CloudFormation would refuse to delete it after the run: set termination-protection to false');
      expect(run.calls.filter((call) => call.service === 'cloudformation').map((call) => call.operation)).toEqual(['DescribeStacks']);
      expect(named(run.calls, 'PutObject')).toEqual([]);
      expect((await describeStack('nightly')).StackStatus).toBe('CREATE_COMPLETE');
    });

    describe('a retried step', () => {
      const step = stepEnv('8001');
      const name = nameOf(step, undefined, 's3://results-out/nightly/');
      const stateMachineArn = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:nightly-fanout`;

      it('attaches to its own execution while it runs, starts no second one, and counts timeout-minutes from the execution’s start', async () => {
        const input = JSON.stringify(toJobRequest(parseJob({ input: 's3://logs-in/day/', output: 's3://results-out/nightly/' })));
        const { executionArn } = await direct().sfn.send(new StartExecutionCommand({ stateMachineArn, name, input }));
        // The step comes back 45 s after the execution started (it was killed and retried): 15 s of the minute are left.
        const run = await cli('nightly', [...NIGHTLY, '--timeout-minutes', '1'], { step, clockAt: Date.now() + 45_000 });
        expect(named(run.calls, 'StopExecution').map((call) => call.params.cause)).toEqual(['sfn-fanout stopped the execution: it ran past the timeout of 60 s.']);
        expect(run.clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBeLessThan(30_000);
        expect(named(run.calls, 'StartExecution')).toHaveLength(1);
        expect(run.err).toContain(`Execution ${name} already exists: attached to it instead of starting another (${executionArn}).`);
        expect(run.err).not.toContain('Started execution');
        const executions = (await direct().sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions!.filter((execution) => execution.name === name);
        expect(executions).toHaveLength(1);
      });

      it('attaches to its execution after it closed, and reports it without starting another', async () => {
        const run = await cli('nightly', NIGHTLY, { step });
        expect(run.err).toContain(`Execution ${name} already exists: attached to it instead of starting another (arn:aws:states:us-east-1:${ACCOUNT}:execution:nightly-fanout:${name}).`);
        expect(run.out).toContain('ABORTED');
        expect(named(run.calls, 'StopExecution')).toEqual([]);
        await expectDeployRoleAllows(run, 'nightly');
      });

      it('as another leg of a matrix (same job and step, another output) starts its own execution instead of colliding', async () => {
        endsAtOnce('nightly');
        const output = 's3://results-out/nightly/leg-2/';
        const run = await cli('nightly', NIGHTLY, { step, output });
        expect(named(run.calls, 'StartExecution').map((call) => call.params.name)).toEqual([nameOf(step, undefined, output)]);
        expect(nameOf(step, undefined, output)).not.toBe(name);
        expect(run.err).not.toContain('already exists');
      });

      it('with other inputs than its execution had: says a name stays taken for 90 days, not to stop it (B10)', async () => {
        const run = await cli('nightly', [...NIGHTLY, '--partitions', '3'], { step });
        expect(run.code).toBe(2);
        expect(run.err).toContain(`Execution ${name} already exists with different input (status ABORTED)`);
        expect(run.err).toContain('stays taken for 90 days after it closes, so stopping it does not free the name: re-run the workflow');
        expect(run.err).not.toMatch(/stop arn:/);
      });
    });

    it('updates the stack through an UPDATE change set, sending a template over 51,200 bytes as a TemplateURL in the artifact bucket', async () => {
      const big = path.join(await tempDir(), 'big.yaml');
      const body = `${await readFile(path.join(root, 'template/sfn-fanout.yaml'), 'utf8')}\n# ${'padding '.repeat(6500)}\n`;
      await writeFile(big, body);
      endsAtOnce('nightly');
      const update = await cli('nightly', [...NIGHTLY, '--template', big, '--max-concurrency', '5']);
      const create = named(update.calls, 'CreateChangeSet')[0]!;
      const key = `sfn-fanout/templates/${createHash('sha256').update(body).digest('hex')}.yaml`;
      expect(create.params).toMatchObject({ ChangeSetType: 'UPDATE', TemplateURL: `https://${ARTIFACTS}.s3.us-east-1.amazonaws.com/${key}` });
      expect(create.params.TemplateBody).toBeUndefined();
      expect(update.calls.filter((call) => call.params.Key === key).map((call) => [call.operation, call.params.ExpectedBucketOwner])).toEqual([
        ['HeadObject', ACCOUNT],
        ['PutObject', ACCOUNT],
      ]);
      expect(await (await direct().s3.send(new GetObjectCommand({ Bucket: ARTIFACTS, Key: key }))).Body!.transformToString()).toBe(body);
      expect(await describeStack('nightly')).toMatchObject({ StackStatus: 'UPDATE_COMPLETE', Parameters: expect.arrayContaining([{ ParameterKey: 'MaxConcurrency', ParameterValue: '5' }]) });
      expect((await direct().cfn.send(new GetTemplateCommand({ StackName: 'nightly' }))).TemplateBody).toBe(body);
      await expectDeployRoleAllows(update, 'nightly');
    });
  });

  describe('resume: a new execution that runs again only what failed (redrive cannot: failures are caught inside the Map)', () => {
    const flaky = path.join(root, '__tests__/fixtures/flaky-handler.ts');
    const input = 's3://logs-in/resume/';
    let flag: string;
    let lines: string[];
    /** Runs an execution the way Step Functions and Lambda would: the same template and Lambda code, over moto's S3. */
    const ran = new Map<string, { report: BatchReport; workers: string[] }>();
    function lambdaRunsExecutions(): void {
      const running = new Map<string, Promise<void>>();
      moto.answer(async (call) => {
        if (call.operation === 'StartExecution' && call.params.stateMachineArn?.endsWith(':stateMachine:resumed-fanout') === true) {
          const name = call.params.name!;
          const request = JSON.parse(call.params.input!) as Record<string, unknown>;
          const workers: string[] = [];
          running.set(
            name,
            runLocal({
              job: parseJob(request),
              handler: flaky,
              runId: name,
              concurrency: 2,
              parameters: { MapMode: 'INLINE' },
              s3: { endpoint: moto.direct, region: REGION },
              wrapInvoke: (invoke) => async (fn, event, seconds) => {
                if (fn.module === 'worker') workers.push(rowName((event as WorkEvent).item));
                return invoke(fn, event, seconds);
              },
            }).then((report) => void ran.set(name, { report, workers })),
          );
          return undefined;
        }
        const name = call.params.executionArn?.split(':').at(-1);
        if (call.operation === 'DescribeExecution' && name !== undefined && running.has(name)) {
          await running.get(name);
          const { report } = ran.get(name)!;
          return { status: 200, body: { executionArn: call.params.executionArn, stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:resumed-fanout`, name, status: report.status, startDate: report.startedAt / 1000, stopDate: report.finishedAt / 1000, input: '{}', ...(report.error === undefined ? { output: '{}' } : { error: report.error.name, cause: report.error.message }) } };
        }
        return undefined;
      });
    }

    beforeAll(async () => {
      flag = path.join(await tempDir(), 'bug');
      lines = [];
      // Four objects of two lines: each its own partition; objects 1 and 3 fail while the flag exists.
      for (let object = 0; object < 4; object += 1) {
        const pair = [`object ${object} line 1`, object % 2 === 1 ? `failwhile:${flag}` : `object ${object} line 2`].map((line) => line.padEnd(flag.length + 12, ' '));
        lines.push(...pair);
        await direct().s3.send(new PutObjectCommand({ Bucket: 'logs-in', Key: `resume/o${object}.txt`, Body: `${pair.join('\n')}\n` }));
      }
    });

    it('re-runs with resume previous-attempt only the partitions that failed, counts the others from the first execution, and reports which ran where', async () => {
      await writeFile(flag, 'not fixed yet');
      lambdaRunsExecutions();
      const args = ['--handler', flaky, '--format', 'lines', '--partitions', '4'];
      const attempt = (n: string) => ({ ...stepEnv('6001'), GITHUB_RUN_ATTEMPT: n });
      const first = await cli('resumed', args, { input, step: attempt('1') });
      expect(first.code).toBe(1);
      const firstName = nameOf(attempt('1'), input, 's3://results-out/resumed/');
      expect(ran.get(firstName)!.report.partitions.map((row) => [rowName(row), row.status])).toEqual([['0', 'succeeded'], ['1', 'failed'], ['2', 'succeeded'], ['3', 'failed']]);

      // The bug is fixed; the workflow's failed job is re-run, and its step resumes the previous attempt's execution.
      await rm(flag);
      const reportFile = path.join(await tempDir(), 'report.json');
      const second = await cli('resumed', [...args, '--resume', 'previous-attempt', '--report', reportFile], { input, step: attempt('2') });
      expect(second.code).toBe(0);
      expect(second.err).toContain(`Resuming run ${firstName}: only the partitions that failed there run again`);
      const secondName = nameOf(attempt('2'), input, 's3://results-out/resumed/');
      const [start] = named(second.calls, 'StartExecution');
      expect(JSON.parse(start!.params.input!)).toMatchObject({ input, resume: firstName });
      expect(ran.get(secondName)!.workers.sort()).toEqual(['1', '3']);
      const report = JSON.parse(await readFile(reportFile, 'utf8')) as BatchReport;
      expect(report).toMatchObject({ engine: 'aws', status: 'SUCCEEDED', runId: secondName, resumes: firstName, totals: { partitions: 4, succeeded: 4, failed: 0, records: 8 } });
      expect(report.partitions.map((row) => [rowName(row), row.ranIn])).toEqual([['0', firstName], ['1', undefined], ['2', firstName], ['3', undefined]]);
      expect(report.result).toEqual({ records: 8, lines });
      // Every record once in what the run manifest lists, read back from S3.
      const manifest = JSON.parse(await (await direct().s3.send(new GetObjectCommand({ Bucket: 'results-out', Key: `resumed/_sfn-fanout/runs/${secondName}/manifest.json` }))).Body!.transformToString()) as RunManifest;
      const committed: string[] = [];
      for (const key of manifest.committed) committed.push(...(await (await direct().s3.send(new GetObjectCommand({ Bucket: 'results-out', Key: `resumed/${key}` }))).Body!.transformToString()).split('\n').filter(Boolean));
      expect(committed.sort()).toEqual([...lines].sort());
      expect(named(second.calls, 'RedriveExecution')).toEqual([]);
      await expectDeployRoleAllows(second, 'resumed', REGION, { input: 'logs-in', output: 'results-out', inputPrefix: 'resume/' });
    });

    it('refuses to resume an execution that never reported its partitions, before deploying anything (exit 2)', async () => {
      const run = await cli('resumed', ['--handler', flaky, '--format', 'lines', '--resume', 'never-ran'], { input });
      expect(run.code).toBe(2);
      expect(run.err).toContain('resume never-ran: s3://results-out/resumed/_sfn-fanout/runs/never-ran');
      expect(named(run.calls, 'CreateChangeSet')).toEqual([]);
      expect(named(run.calls, 'StartExecution')).toEqual([]);
    });
  });

  it('in auto mode keeps MaxConcurrency under the account’s Lambda concurrency, and says so (GetAccountSettings, which moto does not serve, answered as AWS documents it)', async () => {
    moto.answer((call) =>
      call.operation === 'GetAccountSettings'
        ? { status: 200, body: { AccountLimit: { TotalCodeSize: 80_530_636_800, CodeSizeUnzipped: 262_144_000, CodeSizeZipped: 52_428_800, ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 }, AccountUsage: { TotalCodeSize: 0, FunctionCount: 0 } } }
        : undefined,
    );
    endsAtOnce('capped');
    const run = await cli('capped', ['--max-concurrency', '5000', '--delete-stack', 'true']);
    expect(run.err).toContain("Map mode DISTRIBUTED: max concurrency 5000 is over Inline's 40");
    expect(run.err).toContain("Lambda concurrency: the account's Lambda concurrency is 1,000, 1,000 of it unreserved, so MaxConcurrency is 900 instead of 5,000");
    expect(named(run.calls, 'GetAccountSettings').map((call) => call.service)).toEqual(['lambda']);
    const create = named(run.calls, 'CreateChangeSet').find((call) => call.params.StackName === 'capped')!;
    const parameters = Object.fromEntries(Object.keys(create.params).filter((key) => /^Parameters\.member\.\d+\.ParameterKey$/.test(key)).map((key) => [create.params[key], create.params[key.replace('ParameterKey', 'ParameterValue')]]));
    expect(parameters).toMatchObject({ MapMode: 'DISTRIBUTED', MaxConcurrency: '900' });
    await expectDeployRoleAllows(run, 'capped');
  });

  it('creates a stack left in REVIEW_IN_PROGRESS by a change set never executed, keeping its id, and deletes it after the run', async () => {
    const { cfn } = direct();
    const review = await cfn.send(new CreateChangeSetCommand({ StackName: 'review', ChangeSetName: 'abandoned', ChangeSetType: 'CREATE', TemplateBody: 'Resources:\n  Handle:\n    Type: AWS::CloudFormation::WaitConditionHandle\n' }));
    expect((await describeStack('review')).StackStatus).toBe('REVIEW_IN_PROGRESS');
    endsAtOnce('review');
    const run = await cli('review', ['--delete-stack', 'true']);
    expect(run.err).toContain('Creating change set');
    expect(named(run.calls, 'CreateChangeSet')[0]!.params.ChangeSetType).toBe('CREATE');
    expect(run.err).toContain('Stack review is CREATE_COMPLETE.');
    expect(run.err).toContain('Stack review deleted.');
    expect((await describeStack(review.StackId!)).StackStatus).toBe('DELETE_COMPLETE');
    await expect(describeStack('review')).rejects.toThrow('does not exist');
    await expectDeployRoleAllows(run, 'review');
  });

  it('stops an execution the run leaves running before deleting its stack (B1)', async () => {
    // The run fails while its execution runs: the role may not describe it.
    moto.answer((call) => (call.operation === 'DescribeExecution' && call.params.executionArn?.includes(':doomed-fanout:') ? { status: 400, body: { __type: 'AccessDeniedException', message: 'User is not authorized to perform: states:DescribeExecution' } } : undefined));
    const run = await cli('doomed', ['--delete-stack', 'true']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('not authorized to perform: states:DescribeExecution');
    const order = run.calls.map((call) => call.operation);
    const stop = order.indexOf('StopExecution');
    expect(stop).toBeGreaterThan(order.indexOf('StartExecution'));
    expect(stop).toBeLessThan(order.indexOf('DeleteStack'));
    expect(named(run.calls, 'StopExecution')[0]!.status).toBe(200);
    await expect(describeStack('doomed')).rejects.toThrow('does not exist');
    await expectDeployRoleAllows(run, 'doomed');
  });

  describe('Distributed mode', () => {
    const step = stepEnv('7001');
    const name = nameOf(step, undefined, 's3://results-out/wide/');
    const mapRunArn = `arn:aws:states:us-east-1:${ACCOUNT}:mapRun:wide-fanout/Work:4f8a2c1e-0d7b-4d1f-9d3a-2b6c8e1f0a55`;
    /** What Step Functions answers for the execution and its map run, once Lambda has run it. */
    function execution(status: 'SUCCEEDED' | 'FAILED', mapRun: Answer): void {
      const mine = (call: WireCall) => call.params.executionArn?.endsWith(`:${name}`) === true;
      moto.answer((call) => {
        if (call.operation === 'GetExecutionHistory' && mine(call)) {
          return { status: 200, body: { events: [
            { id: 4, type: 'MapRunStarted', timestamp: 1_795_000_003, previousEventId: 3, mapRunStartedEventDetails: { mapRunArn } },
            { id: 3, type: 'MapStateStarted', timestamp: 1_795_000_002, previousEventId: 2, mapStateStartedEventDetails: { length: 0 } },
            { id: 2, type: 'MapStateEntered', timestamp: 1_795_000_002, previousEventId: 1, stateEnteredEventDetails: { name: 'Work' } },
            { id: 1, type: 'ExecutionStarted', timestamp: 1_795_000_000, previousEventId: 0, executionStartedEventDetails: {} },
          ] } };
        }
        if (call.operation === 'DescribeMapRun' && call.params.mapRunArn === mapRunArn) return mapRun;
        if (call.operation === 'DescribeExecution' && mine(call)) {
          return { status: 200, body: { executionArn: call.params.executionArn, stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:wide-fanout`, name, status, startDate: 1_795_000_000, stopDate: 1_795_000_120, input: '{}', ...(status === 'SUCCEEDED' ? { output: '{}' } : { error: 'SfnFanout.ToleratedFailureExceeded', cause: 'More partitions failed than ToleratedFailurePercentage allows.' }) } };
        }
        return undefined;
      });
    }

    it('deploys the Distributed Map (ItemReader, ResultWriter, children), follows the map run’s item counts and reports the batch', async () => {
      await direct().s3.send(new PutObjectCommand({ Bucket: 'results-out', Key: `wide/_sfn-fanout/runs/${name}/batch.json`, Body: batchFile(name, 'SUCCEEDED') }));
      await direct().s3.send(new PutObjectCommand({ Bucket: 'results-out', Key: `wide/_sfn-fanout/runs/${name}/manifest.json`, Body: JSON.stringify({ runId: name, status: 'SUCCEEDED' }) }));
      execution('SUCCEEDED', { status: 200, body: { mapRunArn, executionArn: 'x', status: 'SUCCEEDED', startDate: 1_795_000_003, maxConcurrency: 0, toleratedFailurePercentage: 100, toleratedFailureCount: 0, itemCounts: { pending: 0, running: 0, succeeded: 2, failed: 0, timedOut: 0, aborted: 0, total: 2, resultsWritten: 2 }, executionCounts: { pending: 0, running: 0, succeeded: 2, failed: 0, timedOut: 0, aborted: 0, total: 2, resultsWritten: 2 } } });
      const reportFile = path.join(await tempDir(), 'report.json');
      const run = await cli('wide', ['--map-mode', 'distributed', '--parameters', '{"WorkerMemorySize": "2048"}', '--report', reportFile], { step });
      expect(run.code).toBe(0);
      const report = JSON.parse(await readFile(reportFile, 'utf8')) as BatchReport;
      expect(report).toMatchObject({ engine: 'aws', status: 'SUCCEEDED', runId: name, wallMs: 120_000, totals: { partitions: 2, succeeded: 2, records: 20, workerMs: 120_000 }, result: { requests: 20 } });
      // The manifest is there: nothing was left half published.
      expect(report.partlyPublished).toBeUndefined();
      // 120 worker-seconds at 2 GB, 4 requests, 7 transitions.
      expect(report.cost).toEqual({ usd: expect.closeTo(240 * 0.0000133334 + 4 * 0.2e-6 + 7 * 0.025e-3, 10), lambdaGbSeconds: 240, requests: 4, stateTransitions: 7 });
      const stackId = (await describeStack('wide')).StackId!;
      expect(report.aws).toEqual({ executionArn: `arn:aws:states:us-east-1:${ACCOUNT}:execution:wide-fanout:${name}`, stackId });
      expect(report.links.map((link) => link.url)).toEqual([
        `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${report.aws!.executionArn}`,
        `https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/stackinfo?stackId=${encodeURIComponent(stackId)}`,
        // EXPRESS children keep no history: their errors are in the state machine's log group.
        'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fvendedlogs$252Fstates$252Fsfn-fanout$252Fwide',
      ]);
      expect(run.err).toContain('partitions 2/2 done · 0 running · 0 failed');
      expect(run.out).toContain('SUCCEEDED: 2 partitions (2 succeeded, 0 failed), 20 records');
      expect(named(run.calls, 'DescribeMapRun').map((call) => call.params.mapRunArn)).toEqual([mapRunArn]);
      const work = ((await deployedDefinition('wide')).States as Record<string, Record<string, unknown>>).Work!;
      expect(work).toMatchObject({
        ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSONL' } },
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'results-out', Prefix: 'wide/_sfn-fanout/map-results' } },
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } },
      });
      expect(work.ItemsPath).toBeUndefined();
      // B1: polling a Distributed Map needs DescribeMapRun, which the documented role now grants.
      await expectDeployRoleAllows(run, 'wide');
    });

    it('reports a failed batch with every partition, and a role without DescribeMapRun only loses the item counts (B1)', async () => {
      await direct().s3.send(new PutObjectCommand({ Bucket: 'results-out', Key: `wide/_sfn-fanout/runs/${name}/batch.json`, Body: batchFile(name, 'FAILED') }));
      await direct().s3.send(new PutObjectCommand({ Bucket: 'results-out', Key: `wide/_sfn-fanout/runs/${name}/manifest.json`, Body: JSON.stringify({ runId: name, status: 'FAILED' }) }));
      execution('FAILED', { status: 400, body: { __type: 'AccessDeniedException', message: `User is not authorized to perform: states:DescribeMapRun on resource: ${mapRunArn}` } });
      const run = await cli('wide', ['--map-mode', 'distributed', '--parameters', '{"WorkerMemorySize": "2048"}'], { step });
      expect(run.code).toBe(1);
      expect(run.out).toContain('SfnFanout.ToleratedFailureExceeded: More partitions failed than ToleratedFailurePercentage allows.');
      expect(run.out).toMatch(/\n1\s+failed\s+2\.0 KiB\s+-\s+-\s+-\s+-\npartition 1 failed: Sandbox.Timedout: Task timed out after 900.00 seconds/);
      expect(run.err.match(/Cannot read the Distributed Map's progress/g)).toHaveLength(1);
      expect(named(run.calls, 'DescribeMapRun')).toHaveLength(1);
    });
  });

  it('uploads when HeadObject answers 403 (ListBucket limited by prefix), and S3’s If-None-Match keeps an object already there', async () => {
    await direct().s3.send(new CreateBucketCommand({ Bucket: 'prefix-listing' }));
    // S3 answers 403, not 404, for a missing key to a role whose ListBucket has an s3:prefix condition.
    moto.answer((call) => (call.operation === 'HeadObject' && call.params.Bucket === 'prefix-listing' ? { status: 403 } : undefined));
    const s3 = new S3Client({ region: REGION, endpoint: moto.endpoint, credentials: TEST_CREDENTIALS, forcePathStyle: true });
    expect(await uploadIfAbsent(s3, 'prefix-listing', 'sfn-fanout/code/a.zip', Buffer.from('first'))).toBe(true);
    expect(await uploadIfAbsent(s3, 'prefix-listing', 'sfn-fanout/code/a.zip', Buffer.from('second'))).toBe(false);
    const kept = await direct().s3.send(new GetObjectCommand({ Bucket: 'prefix-listing', Key: 'sfn-fanout/code/a.zip' }));
    expect(await kept.Body!.transformToString()).toBe('first');
    expect(moto.calls.filter((call) => call.params.Bucket === 'prefix-listing').map((call) => `${call.operation} ${call.status}`)).toEqual(['HeadObject 403', 'PutObject 200', 'HeadObject 403', 'PutObject 412']);
  });

  it('refuses an artifact bucket another account owns (S3 answers 403 to ExpectedBucketOwner), uploading nothing and deploying nothing', async () => {
    await direct().s3.send(new CreateBucketCommand({ Bucket: 'shared-artifacts' }));
    // moto keeps no bucket owners: answer as S3 does for a bucket of account 111111111111.
    moto.answer((call) => (call.params.Bucket === 'shared-artifacts' && call.params.ExpectedBucketOwner !== '111111111111' ? { status: 403 } : undefined));
    const run = await cli('squatted', ['--artifact-bucket', 'shared-artifacts']);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain(`Either the bucket belongs to another AWS account than ${ACCOUNT} (sfn-fanout only uses an artifact bucket of the account it runs in: set artifact-bucket to a bucket of account ${ACCOUNT})`);
    expect(run.calls.filter((call) => call.params.Bucket === 'shared-artifacts').map((call) => `${call.operation} ${call.params.ExpectedBucketOwner} ${call.status}`)).toEqual([`HeadObject ${ACCOUNT} 403`, `PutObject ${ACCOUNT} 403`]);
    expect(named(run.calls, 'CreateChangeSet')).toEqual([]);
  });

  it('says to set artifact-bucket when the bootstrap bucket’s name is taken', async () => {
    await buckets('eu-west-1', [`sfn-fanout-${ACCOUNT}-eu-west-1`]);
    const run = await cli('taken', [], { region: 'eu-west-1' });
    expect(run.code).toBe(2);
    expect(run.err).toContain(`Could not create the artifact bucket sfn-fanout-${ACCOUNT}-eu-west-1 (stack sfn-fanout-bootstrap)`);
    expect(run.err).toContain('If another AWS account already has a bucket of that name, set artifact-bucket to a bucket of your own account.');
    expect(named(run.calls, 'PutObject')).toEqual([]);
  });

  it('refuses a template that refers to a parameter it does not declare before uploading or deploying, as the local engine does', async () => {
    const typo = path.join(await tempDir(), 'typo.yaml');
    const body = await readFile(path.join(root, 'template/sfn-fanout.yaml'), 'utf8');
    await writeFile(typo, body.replace(/^ {2}WorkerMemorySize:$/m, '  WorkerMemorySze:'));
    const run = await cli('typo', ['--template', typo]);
    expect(run.code).toBe(2);
    expect(run.err).toContain(`Template ${typo}: WorkerFunction.Properties.MemorySize refers to "WorkerMemorySize", which is neither a parameter nor a resource.`);
    expect(run.calls.filter((call) => call.service === 'cloudformation' || call.operation === 'PutObject').map((call) => call.operation)).toEqual([]);
  });

  it('refuses the bootstrap stack’s name as stack-name before any call (it would replace every stack’s artifact bucket)', async () => {
    const run = await cli('sfn-fanout-bootstrap');
    expect(run.code).toBe(2);
    expect(run.err).toContain('stack-name "sfn-fanout-bootstrap" is the name of sfn-fanout\'s bootstrap stack');
    expect(run.calls).toEqual([]);
  });

  it('names the output a bootstrap stack lacks, instead of uploading to s3://undefined (B11)', async () => {
    await direct('us-west-2').cfn.send(new CreateStackCommand({ StackName: 'sfn-fanout-bootstrap', TemplateBody: 'Resources:\n  Handle:\n    Type: AWS::CloudFormation::WaitConditionHandle\n' }));
    const run = await cli('west', [], { region: 'us-west-2' });
    expect(run.code).toBe(2);
    expect(run.err).toContain('Stack sfn-fanout-bootstrap has no BucketName output (it has no outputs)');
    expect(run.err).not.toContain('undefined');
    expect(named(run.calls, 'PutObject')).toEqual([]);
    expect(named(run.calls, 'CreateChangeSet')).toEqual([]);
  });

  it('deploys and links in the partition of the region: aws-cn in cn-north-1', async () => {
    await buckets('cn-north-1', ['logs-cn', 'results-cn']);
    const report = path.join(await tempDir(), 'report.json');
    endsAtOnce('china');
    const run = await cli('china', ['--report', report], { region: 'cn-north-1', input: 's3://logs-cn/day/', output: 's3://results-cn/china/' });
    const resources = JSON.stringify(await deployedDefinition('china', 'cn-north-1')).match(/"Resource":"[^"]+"/g);
    expect(resources).toEqual(Array(7).fill('"Resource":"arn:aws-cn:states:::lambda:invoke"'));
    const { links, aws } = JSON.parse(await readFile(report, 'utf8')) as { links: { url: string }[]; aws: { executionArn: string } };
    expect(aws.executionArn).toMatch(/^arn:aws-cn:states:cn-north-1:123456789012:execution:china-fanout:/);
    expect(links.map((link) => link.url.split('#')[0])).toEqual(['https://console.amazonaws.cn/states/home?region=cn-north-1', 'https://console.amazonaws.cn/cloudformation/home?region=cn-north-1', 'https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1']);
    expect(links[2]).toEqual({ label: 'State machine errors in CloudWatch Logs (EXPRESS children’s too)', url: 'https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#logsV2:log-groups/log-group/$252Faws$252Fvendedlogs$252Fstates$252Fsfn-fanout$252Fchina' });
    await expectDeployRoleAllows(run, 'china', 'cn-north-1', { input: 'logs-cn', output: 'results-cn' });
  });

  it('says how to set up credentials when there are none, before any call (not the SDK’s "Could not load credentials")', async () => {
    const restore = setEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config', AWS_EC2_METADATA_DISABLED: 'true' });
    try {
      const run = await cli('nobody');
      expect(run.code).toBe(2);
      expect(run.err.split('\n').at(-2)).toBe('No AWS credentials were found. Add a step before this one: uses: aws-actions/configure-aws-credentials@v4 with role-to-assume and aws-region, and give the job permissions: id-token: write.');
      expect(run.err).not.toMatch(/Could not load credentials|Map mode/);
      expect(run.calls).toEqual([]);
    } finally {
      restore();
    }
  });

  describe('cancellation (B6): the first SIGINT or SIGTERM ends the run within seconds in every phase', () => {
    it.each([
      ['the upload, while S3 never answers', 'cancel-upload', (call: WireCall) => call.operation === 'PutObject' && call.params.Bucket === 'cancel-upload-artifacts', /Cancelled while uploading s3:\/\/cancel-upload-artifacts\/sfn-fanout\/code\/[0-9a-f]{64}\.zip\./],
      ['the execution, while Step Functions never answers', 'cancel-run', (call: WireCall) => call.operation === 'DescribeExecution' && call.params.executionArn?.includes(':cancel-run-fanout:') === true, /SfnFanout\.Stopped: sfn-fanout stopped the execution: the job was cancelled\./],
    ])('in %s', async (_phase, stack, hung, message) => {
      await direct().s3.send(new CreateBucketCommand({ Bucket: `${stack}-artifacts` }));
      const controller = new AbortController();
      const arrived = moto.hang(hung);
      const running = cli(stack, ['--artifact-bucket', `${stack}-artifacts`, '--delete-stack', 'true'], { signal: controller.signal });
      await arrived;
      const cancelledAt = Date.now();
      controller.abort();
      const run = await running;
      expect(Date.now() - cancelledAt).toBeLessThan(3000);
      expect(`${run.out}${run.err}`).toMatch(message);
      // An ephemeral stack is still asked to go, without waiting for it.
      if (stack === 'cancel-run') expect(run.err).toContain('Requested the deletion of stack cancel-run; CloudFormation finishes it without this run.');
      if (stack === 'cancel-run') {
        const stop = named(run.calls, 'StopExecution')[0]!;
        expect(stop.params.cause).toBe('sfn-fanout stopped the execution: the job was cancelled.');
        expect(named(run.calls, 'DescribeExecution').at(-1)!.response).toMatch(/"status":\s*"ABORTED"/);
      }
    });

    it('in the deploy: a SIGTERM to the CLI process while a change set never settles ends it within seconds, and the ephemeral stack is asked to go', async () => {
      await direct().s3.send(new CreateBucketCommand({ Bucket: 'cancel-deploy-artifacts' }));
      const arrived = moto.hang((call) => call.operation === 'DescribeChangeSet');
      const child = spawn(path.join(root, 'node_modules/.bin/node'), [path.join(root, 'src/bin/cli.ts'), 'run', '--engine', 'aws', '--region', REGION, '--stack-name', 'sigterm', '--input', 's3://logs-in/day/', '--output', 's3://results-out/sigterm/', '--handler', exampleHandler, '--artifact-bucket', 'cancel-deploy-artifacts', '--delete-stack', 'true'], {
        env: { ...process.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await arrived;
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      expect(Date.now() - signalledAt).toBeLessThan(5000);
      expect(code).not.toBe(0);
      expect(stderr).toContain('Cancelled while waiting for the change set of stack sigterm (not described yet).');
      expect(stderr).toContain('Requested the deletion of stack sigterm; CloudFormation finishes it without this run.');
      await expect(describeStack('sigterm')).rejects.toThrow('does not exist');
    });
  });

  describe('the mocks other tests use answer as the emulator does', () => {
    /** Each field as its type: the mock may leave fields out, but what it gives must look like AWS's. */
    const shape = (value: object) => Object.fromEntries(Object.entries(value).filter(([key]) => key !== '$metadata').map(([key, item]) => [key, item instanceof Date ? 'date' : Array.isArray(item) ? 'array' : typeof item]));
    const expectSameShape = (mocked: object, emulated: object) => {
      const emulatedShape = shape(emulated);
      expect(Object.fromEntries(Object.keys(shape(mocked)).map((key) => [key, emulatedShape[key]]))).toEqual(shape(mocked));
    };
    const failureOf = async (promise: Promise<unknown>) => (await promise.then(() => undefined, (error: unknown) => error)) as Error;

    it('fakeStacks and stackNotFound: the stack calls and the error for a stack that does not exist', async () => {
      const fake = new CloudFormationClient({ region: REGION });
      const stub = mockClient(fake);
      try {
        fakeStacks(stub);
        const { cfn } = direct();
        const missing = [await failureOf(fake.send(new DescribeStacksCommand({ StackName: 'contract' }))), await failureOf(cfn.send(new DescribeStacksCommand({ StackName: 'contract' })))];
        expect(missing.map((error) => [error.name, error.message])).toEqual([0, 1].map(() => ['ValidationError', 'Stack with id contract does not exist']));
        expect(stackNotFound('contract').message).toBe(missing[1]!.message);
        const template = 'Resources:\n  Handle:\n    Type: AWS::CloudFormation::WaitConditionHandle\nOutputs:\n  StateMachineArn:\n    Value: x\n';
        const input = { StackName: 'contract', ChangeSetName: 'first', ChangeSetType: 'CREATE' as const, TemplateBody: template };
        const created = [await fake.send(new CreateChangeSetCommand(input)), await cfn.send(new CreateChangeSetCommand(input))];
        expectSameShape(created[0]!, created[1]!);
        expect(created[1]!.Id).toMatch(/^arn:aws:cloudformation:us-east-1:123456789012:changeSet\/first\//);
        const described = [await fake.send(new DescribeChangeSetCommand({ ChangeSetName: created[0]!.Id })), await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: created[1]!.Id }))];
        expectSameShape(described[0]!, described[1]!);
        expect(described.map((changeSet) => changeSet.Status)).toEqual(['CREATE_COMPLETE', 'CREATE_COMPLETE']);
        await fake.send(new ExecuteChangeSetCommand({ ChangeSetName: created[0]!.Id }));
        await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: created[1]!.Id }));
        const stacks = [(await fake.send(new DescribeStacksCommand({ StackName: 'contract' }))).Stacks![0]!, (await cfn.send(new DescribeStacksCommand({ StackName: 'contract' }))).Stacks![0]!];
        expectSameShape(stacks[0]!, stacks[1]!);
        expect(stacks.map((stack) => [stack.StackStatus, stack.Outputs!.map((output) => output.OutputKey)])).toEqual([0, 1].map(() => ['CREATE_COMPLETE', ['StateMachineArn']]));
        const events = (await cfn.send(new DescribeStackEventsCommand({ StackName: stacks[1]!.StackId }))).StackEvents!;
        // Newest first, each with its own id: what the event marker of a deploy relies on.
        expect(events[0]).toMatchObject({ LogicalResourceId: 'contract', ResourceStatus: 'CREATE_COMPLETE' });
        expect(new Set(events.map((event) => event.EventId)).size).toBe(events.length);
        await fake.send(new DeleteStackCommand({ StackName: stacks[0]!.StackId }));
        await cfn.send(new DeleteStackCommand({ StackName: stacks[1]!.StackId }));
        const gone = [await failureOf(fake.send(new DescribeStacksCommand({ StackName: 'contract' }))), await failureOf(cfn.send(new DescribeStacksCommand({ StackName: 'contract' })))];
        expect(gone.map((error) => error.name)).toEqual(['ValidationError', 'ValidationError']);
        const byId = [(await fake.send(new DescribeStacksCommand({ StackName: stacks[0]!.StackId }))).Stacks![0]!, (await cfn.send(new DescribeStacksCommand({ StackName: stacks[1]!.StackId }))).Stacks![0]!];
        expect(byId.map((stack) => stack.StackStatus)).toEqual(['DELETE_COMPLETE', 'DELETE_COMPLETE']);
      } finally {
        stub.restore();
      }
    });

    it('fakeExecution and ExecutionAlreadyExists: starting, describing and stopping an execution, and a name taken', async () => {
      const { sfn, s3 } = direct();
      const stateMachineArn = (await sfn.send(new CreateStateMachineCommand({ name: 'contract-fanout', definition: '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}', roleArn: `arn:aws:iam::${ACCOUNT}:role/contract` }))).stateMachineArn!;
      const fake = new SFNClient({ region: REGION });
      const stub = mockClient(fake);
      try {
        const step = stepFromEnv(stepEnv('9001'));
        fakeExecution(stub, s3, step, 'SUCCEEDED', new VirtualClock());
        const input = { stateMachineArn, name: executionName(step), input: '{}' };
        const started = [await fake.send(new StartExecutionCommand(input)), await sfn.send(new StartExecutionCommand(input))];
        expectSameShape(started[0]!, started[1]!);
        const running = [await fake.send(new DescribeExecutionCommand({ executionArn: started[0]!.executionArn })), await sfn.send(new DescribeExecutionCommand({ executionArn: started[1]!.executionArn }))];
        expectSameShape(running[0]!, running[1]!);
        expect(running.map((execution) => execution.status)).toEqual(['RUNNING', 'RUNNING']);
        const history = (await sfn.send(new GetExecutionHistoryCommand({ executionArn: started[1]!.executionArn }))).events!;
        expect(history.every((event) => typeof event.id === 'number' && event.timestamp instanceof Date && typeof event.type === 'string')).toBe(true);
        const taken = await failureOf(sfn.send(new StartExecutionCommand({ ...input, input: '{"other": true}' })));
        expect(taken).toBeInstanceOf(ExecutionAlreadyExists);
      } finally {
        stub.restore();
      }
    });
  });
});
