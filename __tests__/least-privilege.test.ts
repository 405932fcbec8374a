import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTemplateText } from '../src/local/cfn-yaml.ts';
import { allows, documentedPolicy, type IamRequest } from './helpers/iam-policy.ts';

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

/**
 * Actions the Service Authorization Reference lists with no resource type: IAM can grant them only
 * on "*". Reading the account's Lambda concurrency, and setting up a state machine's log delivery.
 */
const ONLY_ON_ANY_RESOURCE = new Set([
  'lambda:GetAccountSettings',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

function wildcardProblems(where: string, statement: Statement): string[] {
  if (statement.Effect !== 'Allow') return [];
  const problems: string[] = [];
  for (const action of asList(statement.Action)) {
    if (action === '*' || /^[a-z0-9-]+:\*$/.test(action)) problems.push(`${where}: Action ${action}`);
  }
  const onlyOnAny = asList(statement.Action).every((action) => ONLY_ON_ANY_RESOURCE.has(action));
  for (const resource of resourceText(statement.Resource ?? '*')) {
    if ((resource === '*' || resource === '"*"') && !onlyOnAny) problems.push(`${where}: Resource *`);
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

  it('the state machine may only invoke its own three functions, deliver its errors to its log group and, in Distributed mode, run its own children', async () => {
    const statements = (await templateStatements('template/sfn-fanout.yaml')).filter(({ role }) => role === 'StateMachineRole');
    expect(statements.map(({ statement }) => statement.Sid ?? statement.Action)).toEqual(['lambda:InvokeFunction', 'DeliverErrorsToTheLogGroup', 'StartChildWorkflows', 'WatchChildWorkflows', 'ReadPlanManifest', 'WriteMapResults']);
    expect(asList(statements[1]!.statement.Action).every((action) => ONLY_ON_ANY_RESOURCE.has(action))).toBe(true);
    expect(statements[2]!.statement.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-fanout' });
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

  /**
   * Each path (bootstrap, Inline, Distributed, resume, delete-stack, timeout stop, cancel) runs
   * through the CLI against moto in aws-emulator.test.ts, and every call it makes on the wire is
   * checked there against template/deploy-role-policy.json. Here: the policy grants nothing beyond
   * what the engine can call, and CloudFormation's service role covers what the templates create.
   */
  it('the deploy-role policy grants the actions of the calls the AWS engine can make, and no others', async () => {
    const sources = [...(await readdir(path.join(root, 'src/aws'))).map((file) => path.join('src/aws', file)), 'src/run-batch.ts'];
    const commands = new Set<string>();
    for (const file of sources) {
      for (const match of (await readFile(path.join(root, file), 'utf8')).matchAll(/new (\w+)Command\(/g)) commands.add(match[1]!);
    }
    // Through S3Store: planning lists the input (to choose the map mode); the report reads the batch file.
    commands.add('ListObjectsV2');
    commands.add('GetObject');
    const IAM_ACTION: Record<string, string | null> = {
      GetCallerIdentity: null, // needs no permission
      HeadObject: 's3:GetObject',
      GetObject: 's3:GetObject',
      PutObject: 's3:PutObject',
      ListObjectsV2: 's3:ListBucket',
    };
    const service = (command: string) => (/Stack|ChangeSet|TerminationProtection|UpdateRollback/.test(command) ? 'cloudformation' : command === 'GetAccountSettings' ? 'lambda' : 'states');
    const needed = new Set([...commands].map((command) => (command in IAM_ACTION ? IAM_ACTION[command] : `${service(command)}:${command}`)).filter((action): action is string => action !== null));
    const policy = JSON.parse(await readFile(path.join(root, 'template/deploy-role-policy.json'), 'utf8')) as { Statement: Statement[] };
    const granted = new Set(policy.Statement.filter((statement) => statement.Effect === 'Allow').flatMap((statement) => asList(statement.Action)));
    // PassRole is not a call: CloudFormation checks it when a change set names the service role.
    expect([...granted].sort()).toEqual([...needed, 'iam:PassRole'].sort());
  });

  describe('CloudFormation’s service role covers every resource the two templates create (B3)', () => {
    const values = { Partition: 'aws', Region: 'us-east-1', Account: '123456789012', StackName: 'fanout' };
    const generated = (logicalId: string) => `fanout-${logicalId}-1A2B3C4D5E6F`;
    type Requests = (logicalId: string, properties: Record<string, unknown>) => IamRequest[];
    const each = (actions: string[], resource: string) => actions.map((action) => ({ action, resource }));
    const role = (logicalId: string) => `arn:aws:iam::123456789012:role/${generated(logicalId)}`;
    const passes = (properties: Record<string, unknown>): IamRequest[] => {
      const ref = (properties.Role ?? properties.RoleArn) as { 'Fn::GetAtt'?: string[] } | undefined;
      return ref?.['Fn::GetAtt'] === undefined ? [] : [{ action: 'iam:PassRole', resource: role(ref['Fn::GetAtt'][0]!) }];
    };
    /** What CloudFormation calls to create, update, read and delete each type, per the services' API references. */
    const NEEDS: Record<string, Requests> = {
      'AWS::IAM::Role': (id) => each(['iam:CreateRole', 'iam:GetRole', 'iam:DeleteRole', 'iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:DeleteRolePolicy', 'iam:TagRole'], role(id)),
      'AWS::Lambda::Function': (id, properties) => [
        ...each(['lambda:CreateFunction', 'lambda:GetFunction', 'lambda:DeleteFunction', 'lambda:UpdateFunctionCode', 'lambda:UpdateFunctionConfiguration', 'lambda:TagResource', 'lambda:ListTags'], `arn:aws:lambda:us-east-1:123456789012:function:${generated(id)}`),
        { action: 's3:GetObject', resource: 'arn:aws:s3:::sfn-fanout-123456789012-us-east-1/sfn-fanout/code/0123.zip' },
        ...passes(properties),
      ],
      'AWS::Logs::LogGroup': (_id, properties) =>
        each(['logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:PutRetentionPolicy', 'logs:DescribeLogGroups', 'logs:TagResource'], `arn:aws:logs:us-east-1:123456789012:log-group:${String((properties.LogGroupName as { 'Fn::Sub': string })['Fn::Sub']).replace('${AWS::StackName}', 'fanout')}`),
      'AWS::StepFunctions::StateMachine': (_id, properties) => [
        ...each(['states:CreateStateMachine', 'states:DescribeStateMachine', 'states:UpdateStateMachine', 'states:DeleteStateMachine', 'states:TagResource'], 'arn:aws:states:us-east-1:123456789012:stateMachine:fanout-fanout'),
        ...passes(properties),
        // With logging, Step Functions sets up the log delivery as the caller too (CloudWatch Logs' vended logs).
        ...(properties.LoggingConfiguration === undefined ? [] : each(['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups'], '*')),
      ],
      'AWS::S3::Bucket': (_id, properties) => {
        const bucket = 'arn:aws:s3:::sfn-fanout-123456789012-us-east-1';
        const byProperty: Record<string, string> = {
          BucketEncryption: 's3:PutEncryptionConfiguration',
          PublicAccessBlockConfiguration: 's3:PutBucketPublicAccessBlock',
          OwnershipControls: 's3:PutBucketOwnershipControls',
          LifecycleConfiguration: 's3:PutLifecycleConfiguration',
        };
        const unknown = Object.keys(properties).filter((name) => name !== 'BucketName' && !(name in byProperty));
        if (unknown.length > 0) throw new Error(`No permissions known for AWS::S3::Bucket ${unknown.join(', ')}: add them here and to the service role.`);
        // CloudFormation tags what it creates (aws:cloudformation:stack-name, ...).
        return each(['s3:CreateBucket', 's3:PutBucketTagging', ...Object.keys(properties).filter((name) => name in byProperty).map((name) => byProperty[name]!)], bucket);
      },
      'AWS::S3::BucketPolicy': () => each(['s3:PutBucketPolicy', 's3:GetBucketPolicy', 's3:DeleteBucketPolicy'], 'arn:aws:s3:::sfn-fanout-123456789012-us-east-1'),
    };

    it.each(['template/sfn-fanout.yaml', 'template/bootstrap.yaml'])('%s', async (file) => {
      const policy = await documentedPolicy('template/cloudformation-service-role-policy.json', values);
      const template = parseTemplateText(await readFile(path.join(root, file), 'utf8')) as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
      const missing: string[] = [];
      for (const [logicalId, resource] of Object.entries(template.Resources)) {
        const needs = NEEDS[resource.Type];
        if (needs === undefined) throw new Error(`${file}: ${logicalId} is a ${resource.Type}, whose permissions this test does not know yet.`);
        for (const request of needs(logicalId, resource.Properties ?? {})) {
          if (!allows(policy, request)) missing.push(`${logicalId}: ${request.action} on ${request.resource}`);
        }
      }
      expect(missing).toEqual([]);
    });
  });
});
