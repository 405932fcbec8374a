import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import { RedriveExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { runAws, type AwsRunOptions } from '../src/aws/aws-engine.ts';
import { executionName } from '../src/aws/execution.ts';
import { parseJob } from '../src/job.ts';
import { DEFAULT_PRICES } from '../src/report/cost.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';
import { ACCOUNT, REGION, STATE_MACHINE, fakeExecution, fakeStacks } from './helpers/fake-aws.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfnMock = mockClient(CloudFormationClient);
const fakeCloudFormation = () => fakeStacks(cfnMock);
const sfnMock = mockClient(SFNClient);
const stsMock = mockClient(STSClient);

describe('the AWS engine, end to end against mocked CloudFormation and Step Functions and S3 on s3rver', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3(['fanout-artifacts', 'logs-in', 'results-out']);
  });
  afterAll(async () => s3.stop());
  beforeEach(() => {
    cfnMock.reset();
    sfnMock.reset();
    stsMock.reset();
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/gha/run`, UserId: 'x' });
  });

  const step = { repository: 'acme/logs', workflow: 'nightly', job: 'batch', step: 'fanout', runId: '555', runAttempt: 2 };
  const options = (overrides: Partial<AwsRunOptions> = {}): AwsRunOptions => ({
    job: parseJob({ input: 's3://logs-in/2026-11-26/', output: 's3://results-out/nightly/', partitions: 2 }),
    handler: path.join(root, 'examples/log-analytics/handler.ts'),
    parameters: { WorkerMemorySize: '2048' },
    region: REGION,
    stackName: 'fanout',
    capabilities: ['CAPABILITY_IAM'],
    tags: { project: 'logs' },
    deleteStack: false,
    step,
    prices: DEFAULT_PRICES,
    ...overrides,
  });
  const clients = () => ({ cfn: new CloudFormationClient({ region: REGION }), sfn: new SFNClient({ region: REGION }), s3: s3.client, sts: new STSClient({ region: REGION }) });

  const execution = (status: 'SUCCEEDED' | 'FAILED', clock: VirtualClock) => fakeExecution(sfnMock, s3.client, step, status, clock);

  it('bootstraps the artifact bucket, uploads the code, deploys, runs one execution and reports it, then deletes the stack', async () => {
    const clock = new VirtualClock();
    const stacks = fakeCloudFormation();
    const { name, arn } = execution('SUCCEEDED', clock);
    const log: string[] = [];
    const report = await runAws(options({ deleteStack: true }), clients(), { clock, log: (line) => log.push(line) });

    const changeSets = cfnMock.commandCalls(CreateChangeSetCommand).map((call) => call.args[0].input);
    expect(changeSets.map((c) => c.StackName)).toEqual(['sfn-fanout-bootstrap', 'fanout']);
    const parameters = Object.fromEntries(changeSets[1]!.Parameters!.map((p) => [p.ParameterKey, p.ParameterValue]));
    expect(parameters).toMatchObject({ ArtifactBucket: 'fanout-artifacts', HandlerPath: 'handler/handler.mjs', InputBucket: 'logs-in', InputPrefix: '2026-11-26/', OutputBucket: 'results-out', OutputPrefix: 'nightly/', WorkerMemorySize: '2048' });
    expect(parameters.CodeKey).toMatch(/^sfn-fanout\/code\/[0-9a-f]{64}\.zip$/);
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE,
      name,
      input: JSON.stringify({ input: 's3://logs-in/2026-11-26/', output: 's3://results-out/nightly/', format: 'ndjson', partitions: 2, maxPartitions: 1000, maxRejected: 0 }),
    });
    expect(report).toMatchObject({ engine: 'aws', status: 'SUCCEEDED', runId: name, wallMs: 120_000, totals: { partitions: 2, succeeded: 2, records: 20, workerMs: 120_000 }, result: { requests: 20 } });
    expect(report.links.map((l) => l.url)).toEqual([
      `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${arn}`,
      `https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/stackinfo?stackId=${encodeURIComponent(stacks.get('fanout')!.id)}`,
    ]);
    // 120 worker-seconds at 2 GB, 4 requests, 7 transitions.
    expect(report.cost).toEqual({ usd: expect.closeTo(240 * 0.0000133334 + 4 * 0.2e-6 + 7 * 0.025e-3, 10), lambdaGbSeconds: 240, requests: 4, stateTransitions: 7 });
    expect(report.aws).toEqual({ executionArn: arn, stackId: stacks.get('fanout')!.id });
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(1);
    expect(log).toContain(`Started execution ${arn}.`);
  });

  it('uses the given artifact bucket, and skips the upload when the code is already there', async () => {
    const clock = new VirtualClock();
    fakeCloudFormation();
    execution('SUCCEEDED', clock);
    const log: string[] = [];
    await runAws(options({ artifactBucket: 'fanout-artifacts' }), clients(), { clock, log: (line) => log.push(line) });
    expect(log.some((line) => /^The code is already at s3:\/\/fanout-artifacts\/sfn-fanout\/code\//.test(line))).toBe(true);
    expect(cfnMock.commandCalls(CreateChangeSetCommand).map((call) => call.args[0].input.StackName)).toEqual(['fanout']);
  });

  it('reports a failed batch with its error and every partition', async () => {
    const clock = new VirtualClock();
    fakeCloudFormation();
    execution('FAILED', clock);
    const report = await runAws(options({ artifactBucket: 'fanout-artifacts' }), clients(), { clock, log: () => {} });
    expect(report.status).toBe('FAILED');
    expect(report.error).toEqual({ name: 'SfnFanout.ToleratedFailureExceeded', message: 'More partitions failed than ToleratedFailurePercentage allows.' });
    expect(report.partitions[1]).toEqual({ id: 1, status: 'failed', bytes: 2048, error: 'Sandbox.Timedout', message: 'Task timed out after 900.00 seconds' });
  });

  it('redrives the previous attempt’s execution instead of starting a new one', async () => {
    const clock = new VirtualClock();
    fakeCloudFormation();
    execution('SUCCEEDED', clock);
    sfnMock.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
    await runAws(options({ artifactBucket: 'fanout-artifacts', redrive: 'previous-attempt' }), clients(), { clock, log: () => {} });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(RedriveExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:fanout-fanout:${executionName(step, 1)}` });
  });

  it('still deletes an ephemeral stack whose deploy failed, and reports the failed resources', async () => {
    const clock = new VirtualClock();
    const stacks = fakeCloudFormation();
    cfnMock.on(ExecuteChangeSetCommand).callsFake(() => {
      stacks.get('fanout')!.status = 'ROLLBACK_COMPLETE';
      return {};
    });
    cfnMock.on(DescribeStackEventsCommand).resolves({
      StackEvents: [{ EventId: 'e1', StackId: stacks.get('fanout')?.id ?? 'x', StackName: 'fanout', Timestamp: new Date(clock.now() + 1), LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'CREATE_FAILED', ResourceStatusReason: 'User is not authorized to perform: iam:CreateRole' }],
    });
    const failure = runAws(options({ artifactBucket: 'fanout-artifacts', deleteStack: true }), clients(), { clock, log: () => {} });
    await expect(failure).rejects.toThrow('WorkerRole (AWS::IAM::Role) CREATE_FAILED: User is not authorized to perform: iam:CreateRole');
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(1);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('says how to set up credentials when there are none, before touching anything else', async () => {
    stsMock.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    await expect(runAws(options(), clients(), { clock: new VirtualClock(), log: () => {} })).rejects.toThrow(
      'No AWS credentials were found. Add a step before this one: uses: aws-actions/configure-aws-credentials@v4 with role-to-assume and aws-region, and give the job permissions: id-token: write.',
    );
    expect(cfnMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('refuses local paths before any AWS call', async () => {
    const job = parseJob({ input: './logs', output: 's3://results-out/x/' });
    await expect(runAws(options({ job }), clients(), { clock: new VirtualClock(), log: () => {} })).rejects.toThrow('engine aws reads and writes S3');
    expect(stsMock.calls()).toHaveLength(0);
  });
});
