import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, DeleteStackCommand, DescribeStackEventsCommand, ExecuteChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { awsEndpointFunctions } from '@aws-sdk/core/client';
import { consoleLinks, runAws, type AwsRunOptions } from '../src/aws/aws-engine.ts';
import { partitionOf, s3ObjectUrl } from '../src/aws/partition.ts';
import { parseJob } from '../src/job.ts';
import { DEFAULT_PRICES } from '../src/report/cost.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';
import { REGION, fakeStacks } from './helpers/fake-aws.ts';

/**
 * What moto cannot show: a deploy that fails and rolls back. The rest of the engine runs against
 * moto through the CLI (aws-emulator.test.ts).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfnMock = mockClient(CloudFormationClient);
const sfnMock = mockClient(SFNClient);

describe('the AWS engine, against mocked CloudFormation and S3 on s3rver', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3(['fanout-artifacts']);
  });
  afterAll(async () => {
    await s3.stop();
    cfnMock.restore();
    sfnMock.restore();
  });
  beforeEach(() => {
    cfnMock.reset();
    sfnMock.reset();
  });

  const options = (overrides: Partial<AwsRunOptions> = {}): AwsRunOptions => ({
    job: parseJob({ input: 's3://logs-in/2026-11-26/', output: 's3://results-out/nightly/', partitions: 2 }),
    handler: path.join(root, 'examples/log-analytics/handler.ts'),
    parameters: {},
    region: REGION,
    stackName: 'fanout',
    artifactBucket: 'fanout-artifacts',
    capabilities: ['CAPABILITY_IAM'],
    tags: {},
    deleteStack: false,
    step: { repository: 'acme/logs', workflow: 'nightly', job: 'batch', step: 'fanout', runId: '555', runAttempt: 2 },
    account: '123456789012',
    prices: DEFAULT_PRICES,
    ...overrides,
  });
  const clients = () => ({ cfn: new CloudFormationClient({ region: REGION }), sfn: new SFNClient({ region: REGION }), s3: s3.client });

  it('still deletes an ephemeral stack whose deploy failed, and reports the failed resources', async () => {
    const clock = new VirtualClock();
    const stacks = fakeStacks(cfnMock);
    let executed = false;
    cfnMock.on(ExecuteChangeSetCommand).callsFake(() => {
      stacks.get('fanout')!.status = 'ROLLBACK_COMPLETE';
      executed = true;
      return {};
    });
    cfnMock.on(DescribeStackEventsCommand).callsFake(() => ({
      StackEvents: executed
        ? [{ EventId: 'e1', StackId: stacks.get('fanout')!.id, StackName: 'fanout', Timestamp: new Date(0), LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'CREATE_FAILED', ResourceStatusReason: 'User is not authorized to perform: iam:CreateRole' }]
        : [],
    }));
    const failure = runAws(options({ deleteStack: true }), clients(), { clock, log: () => {} });
    await expect(failure).rejects.toThrow('WorkerRole (AWS::IAM::Role) CREATE_FAILED: User is not authorized to perform: iam:CreateRole');
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(1);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('refuses local paths before any AWS call', async () => {
    const job = parseJob({ input: './logs', output: 's3://results-out/x/' });
    await expect(runAws(options({ job }), clients(), { clock: new VirtualClock(), log: () => {} })).rejects.toThrow('engine aws reads and writes S3');
    expect(cfnMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('the partition of a region', () => {
  it.each(['us-east-1', 'mx-central-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-west-1', 'us-gov-east-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1', 'eusc-de-east-1'])(
    '%s: the same ARN name and DNS suffix as the AWS SDK’s partitions data',
    (region) => {
      const sdk = awsEndpointFunctions.partition!(region) as { name: string; dnsSuffix: string };
      expect(partitionOf(region)).toMatchObject({ name: sdk.name, dnsSuffix: sdk.dnsSuffix });
    },
  );

  it('links to the console of the partition, and to none where it is not public', () => {
    expect(consoleLinks('us-gov-west-1', 'arn:aws-us-gov:states:us-gov-west-1:1:execution:m:e', 'arn:aws-us-gov:cloudformation:us-gov-west-1:1:stack/s/i')[0]!.url).toMatch(/^https:\/\/console\.amazonaws-us-gov\.com\/states\/home\?region=us-gov-west-1#/);
    expect(consoleLinks('us-isob-east-1', 'x', 'y')).toEqual([]);
    expect(s3ObjectUrl('cn-north-1', 'artifacts', 'sfn-fanout/templates/a b.yaml')).toBe('https://artifacts.s3.cn-north-1.amazonaws.com.cn/sfn-fanout/templates/a%20b.yaml');
  });
});

