import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient, StopExecutionCommand, RedriveExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { runAws } from '../src/aws/aws-engine.ts';
import { redrive, stopExecution } from '../src/aws/execution.ts';
import { parseJob } from '../src/job.ts';
import { parseTemplateText } from '../src/local/cfn-yaml.ts';
import { DEFAULT_PRICES } from '../src/report/cost.ts';
import { ACCOUNT, fakeExecution, fakeStacks } from './helpers/fake-aws.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
type Statement = { Effect: string; Action: string | string[]; Resource?: unknown; Condition?: unknown; Sid?: string };

const asList = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);
const resourceText = (resource: unknown): string[] =>
  (Array.isArray(resource) ? resource : [resource]).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));

async function templateStatements(file: string): Promise<{ role: string; statement: Statement }[]> {
  const template = parseTemplateText(await readFile(path.join(root, file), 'utf8')) as { Resources: Record<string, { Type: string; Properties: { Policies?: { PolicyDocument: { Statement: Statement[] } }[]; PolicyDocument?: { Statement: Statement[] } } }> };
  // A policy switched on by a condition counts as granted: both branches are checked.
  const policies = (list: unknown[]): { PolicyDocument: { Statement: Statement[] } }[] =>
    list.flatMap((item) => {
      const branches = (item as { 'Fn::If'?: unknown[] })['Fn::If'];
      return branches === undefined ? [item as { PolicyDocument: { Statement: Statement[] } }] : policies(branches.slice(1).filter((b) => JSON.stringify(b) !== '{"Ref":"AWS::NoValue"}'));
    });
  return Object.entries(template.Resources).flatMap(([role, resource]) => [
    ...policies(resource.Properties.Policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement.map((statement) => ({ role, statement }))),
    ...(resource.Properties.PolicyDocument?.Statement ?? []).map((statement) => ({ role, statement })),
  ]);
}

function wildcardProblems(where: string, statement: Statement): string[] {
  if (statement.Effect !== 'Allow') return [];
  const problems: string[] = [];
  for (const action of asList(statement.Action)) {
    if (action === '*' || /^[a-z0-9-]+:\*$/.test(action)) problems.push(`${where}: Action ${action}`);
  }
  for (const resource of resourceText(statement.Resource ?? '*')) {
    if (resource === '*' || resource === '"*"') problems.push(`${where}: Resource *`);
  }
  return problems;
}

describe('least privilege', () => {
  it('the stack grants no wildcard action or resource, and S3 only on the input and output locations', async () => {
    const problems: string[] = [];
    for (const { role, statement } of await templateStatements('template/sfn-fanout.yaml')) {
      problems.push(...wildcardProblems(`${role}/${statement.Sid ?? '?'}`, statement));
      const s3Actions = asList(statement.Action).filter((action) => action.startsWith('s3:'));
      if (s3Actions.length === 0) continue;
      for (const resource of resourceText(statement.Resource)) {
        if (!/"Fn::Sub":"arn:\$\{AWS::Partition\}:s3:::\$\{(InputBucket|OutputBucket)\}(\/\$\{(InputPrefix|OutputPrefix)\}[^"]*)?"/.test(resource)) {
          problems.push(`${role}: S3 resource ${resource} is outside the input and output locations`);
        }
        if (resource.includes('${InputBucket}') && s3Actions.some((action) => action !== 's3:GetObject' && action !== 's3:ListBucket')) {
          problems.push(`${role}: ${s3Actions.join(', ')} on the input, which is read only`);
        }
      }
      if (s3Actions.includes('s3:ListBucket') && JSON.stringify(statement.Condition ?? {}).indexOf('s3:prefix') === -1) {
        problems.push(`${role}: s3:ListBucket without an s3:prefix condition`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the state machine may only invoke its own three functions and, in Distributed mode, run its own children', async () => {
    const statements = (await templateStatements('template/sfn-fanout.yaml')).filter(({ role }) => role === 'StateMachineRole');
    expect(statements.map(({ statement }) => statement.Sid ?? statement.Action)).toEqual(['lambda:InvokeFunction', 'StartChildWorkflows', 'WatchChildWorkflows', 'ReadPlanManifest', 'WriteMapResults']);
    expect(statements[1]!.statement.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-fanout' });
    expect(statements[0]!.statement).toMatchObject({ Effect: 'Allow', Action: 'lambda:InvokeFunction' });
    expect(statements[0]!.statement.Resource).toEqual([
      { 'Fn::GetAtt': ['PartitionerFunction', 'Arn'] },
      { 'Fn::GetAtt': ['WorkerFunction', 'Arn'] },
      { 'Fn::GetAtt': ['ReducerFunction', 'Arn'] },
    ]);
  });

  it('the bootstrap stack allows nothing; it only denies requests without TLS', async () => {
    const statements = await templateStatements('template/bootstrap.yaml');
    expect(statements.map(({ statement }) => statement.Effect)).toEqual(['Deny']);
  });

  it.each(['template/deploy-role-policy.json', 'template/cloudformation-service-role-policy.json'])('%s grants no wildcard action or resource', async (file) => {
    const policy = JSON.parse(await readFile(path.join(root, file), 'utf8')) as { Statement: Statement[] };
    expect(policy.Statement.flatMap((statement) => wildcardProblems(statement.Sid ?? '?', statement))).toEqual([]);
  });

  describe('the README’s deploy-role policy against the calls the action makes', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['fanout-artifacts', 'logs-in', 'results-out']);
    });
    afterAll(async () => s3.stop());

    /** Every command name an SDK client sends, recorded by a middleware. */
    function recording<T extends { middlewareStack: { add: (...args: never[]) => void } }>(client: T, names: Set<string>): T {
      (client.middlewareStack.add as (mw: unknown, options: unknown) => void)(
        (next: (args: unknown) => unknown, context: { commandName: string }) => (args: unknown) => {
          names.add(context.commandName);
          return next(args);
        },
        { step: 'initialize', name: 'recordCommands' },
      );
      return client;
    }

    const IAM_ACTION: Record<string, string | null> = {
      GetCallerIdentityCommand: null, // needs no permission
      DescribeStacksCommand: 'cloudformation:DescribeStacks',
      DescribeStackEventsCommand: 'cloudformation:DescribeStackEvents',
      CreateChangeSetCommand: 'cloudformation:CreateChangeSet',
      DescribeChangeSetCommand: 'cloudformation:DescribeChangeSet',
      ExecuteChangeSetCommand: 'cloudformation:ExecuteChangeSet',
      DeleteChangeSetCommand: 'cloudformation:DeleteChangeSet',
      DeleteStackCommand: 'cloudformation:DeleteStack',
      UpdateTerminationProtectionCommand: 'cloudformation:UpdateTerminationProtection',
      HeadObjectCommand: 's3:GetObject',
      PutObjectCommand: 's3:PutObject',
      GetObjectCommand: 's3:GetObject',
      StartExecutionCommand: 'states:StartExecution',
      DescribeExecutionCommand: 'states:DescribeExecution',
      GetExecutionHistoryCommand: 'states:GetExecutionHistory',
      StopExecutionCommand: 'states:StopExecution',
      RedriveExecutionCommand: 'states:RedriveExecution',
    };

    it('allows every call of a full run (bootstrap, upload, deploy, execute, report, delete, stop, redrive) and nothing the action never calls', async () => {
      const cfnMock = mockClient(CloudFormationClient);
      const sfnMock = mockClient(SFNClient);
      const stsMock = mockClient(STSClient);
      try {
        const clock = new VirtualClock();
        fakeStacks(cfnMock);
        const step = { repository: 'acme/logs', workflow: 'nightly', job: 'batch', step: 'fanout', runId: '7', runAttempt: 2 };
        fakeExecution(sfnMock, s3.client, step, 'SUCCEEDED', clock);
        stsMock.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
        sfnMock.on(StopExecutionCommand).resolves({});
        sfnMock.on(RedriveExecutionCommand).resolves({});
        const used = new Set<string>();
        const clients = {
          cfn: recording(new CloudFormationClient({ region: 'us-east-1' }), used),
          sfn: recording(new SFNClient({ region: 'us-east-1' }), used),
          s3: recording(s3.client, used),
          sts: recording(new STSClient({ region: 'us-east-1' }), used),
        };
        await runAws(
          {
            job: parseJob({ input: 's3://logs-in/day/', output: 's3://results-out/nightly/' }),
            handler: path.join(root, 'examples/log-analytics/handler.ts'),
            parameters: {},
            region: 'us-east-1',
            stackName: 'fanout',
            capabilities: ['CAPABILITY_IAM'],
            tags: {},
            terminationProtection: false,
            deleteStack: true,
            step,
            prices: DEFAULT_PRICES,
          },
          clients,
          { clock, log: () => {} },
        );
        await stopExecution(clients.sfn, 'arn:aws:states:us-east-1:123456789012:execution:fanout-fanout:x', 'test');
        await redrive(clients.sfn, 'arn:aws:states:us-east-1:123456789012:execution:fanout-fanout:x');

        const policy = JSON.parse(await readFile(path.join(root, 'template/deploy-role-policy.json'), 'utf8')) as { Statement: Statement[] };
        const allowed = new Set(policy.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => asList(s.Action)));
        const needed = [...used].map((name) => {
          expect([name, name in IAM_ACTION]).toEqual([name, true]);
          return IAM_ACTION[name];
        });
        expect(needed.filter((action): action is string => typeof action === 'string' && !allowed.has(action))).toEqual([]);
        // Grants beyond the calls: only the documented two (PassRole for the service role, ListBucket to tell 404 from 403)
        // and the calls of paths this run did not take (a no-op change set, turning protection on).
        const known = new Set([...Object.values(IAM_ACTION).filter((a): a is string => a !== null), 'iam:PassRole', 's3:ListBucket']);
        expect([...allowed].filter((action) => !known.has(action))).toEqual([]);
      } finally {
        cfnMock.restore();
        sfnMock.restore();
        stsMock.restore();
      }
    });
  });
});
