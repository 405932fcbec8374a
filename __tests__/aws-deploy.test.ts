import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  UpdateTerminationProtectionCommand,
  type StackEvent,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { deployStack, StackDeployError, TEMPLATE_BODY_LIMIT, type DeployRequest } from '../src/aws/deploy.ts';
import { VirtualClock } from './helpers/virtual-clock.ts';

const cfnMock = mockClient(CloudFormationClient);
const cfn = new CloudFormationClient({ region: 'us-east-1' });
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/fanout/1111';
const CHANGE_SET_ID = 'arn:aws:cloudformation:us-east-1:123456789012:changeSet/sfn-fanout-x/2222';

const request: DeployRequest = {
  stackName: 'fanout',
  templateBody: 'Resources: {}',
  parameters: { ArtifactBucket: 'artifacts', MaxConcurrency: '10' },
  capabilities: ['CAPABILITY_IAM'],
  tags: { project: 'logs' },
};

function notFound(): Error {
  return Object.assign(new Error('Stack with id fanout does not exist'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
}

/** DescribeStacks answers from `statuses`, one per call, the last repeating; `undefined` is "does not exist". */
function stackStatuses(statuses: (StackStatus | undefined)[], extra: Record<string, unknown> = {}) {
  let call = 0;
  cfnMock.on(DescribeStacksCommand).callsFake(() => {
    const status = statuses[Math.min(call++, statuses.length - 1)];
    if (status === undefined) throw notFound();
    return { Stacks: [{ StackName: 'fanout', StackId: STACK_ID, StackStatus: status, CreationTime: new Date(), Outputs: [{ OutputKey: 'StateMachineArn', OutputValue: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' }], ...extra }] };
  });
}

function changeSet(statuses: { Status: string; StatusReason?: string }[]) {
  let call = 0;
  cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
  cfnMock.on(DescribeChangeSetCommand).callsFake(() => ({ ChangeSetId: CHANGE_SET_ID, StackId: STACK_ID, ExecutionStatus: 'AVAILABLE', ...statuses[Math.min(call++, statuses.length - 1)] }));
}

function events(clock: VirtualClock, list: Partial<StackEvent>[]) {
  cfnMock.on(DescribeStackEventsCommand).callsFake(() => ({
    StackEvents: list.map((event, index) => ({ EventId: `e${index}`, StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(clock.now() + 1), ...event })).reverse(),
  }));
}

async function deploy(overrides: Partial<DeployRequest> = {}) {
  const clock = new VirtualClock();
  const log: string[] = [];
  const uploads: string[] = [];
  const deps = { clock, log: (line: string) => log.push(line), uploadTemplate: async (body: string) => (uploads.push(body), 'https://artifacts.s3.us-east-1.amazonaws.com/templates/t.yaml'), random: () => 0.5 };
  return { clock, log, uploads, run: () => deployStack(cfn, { ...request, ...overrides }, deps) };
}

beforeEach(() => cfnMock.reset());

describe('deploying the stack through a change set', () => {
  it('creates a new stack, streams its events and returns its outputs', async () => {
    const d = await deploy();
    stackStatuses([undefined, 'REVIEW_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
    changeSet([{ Status: 'CREATE_PENDING' }, { Status: 'CREATE_IN_PROGRESS' }, { Status: 'CREATE_COMPLETE' }]);
    events(d.clock, [{ LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'CREATE_COMPLETE' }]);
    const result = await d.run();
    expect(result).toEqual({ stackId: STACK_ID, outputs: { StateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' }, changed: true });
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create).toMatchObject({
      StackName: 'fanout',
      ChangeSetType: 'CREATE',
      TemplateBody: 'Resources: {}',
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: [{ ParameterKey: 'ArtifactBucket', ParameterValue: 'artifacts' }, { ParameterKey: 'MaxConcurrency', ParameterValue: '10' }],
      Tags: [{ Key: 'project', Value: 'logs' }],
    });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)[0]!.args[0].input).toEqual({ ChangeSetName: CHANGE_SET_ID });
    expect(d.log.some((line) => line.endsWith('WorkerRole AWS::IAM::Role CREATE_COMPLETE'))).toBe(true);
  });

  it.each([
    "The submitted information didn't contain changes. Submit different information to create a change set.",
    'No updates are to be performed.',
  ])('treats a change set with nothing to do as success and deletes it (%s)', async (reason) => {
    const d = await deploy();
    stackStatuses(['UPDATE_COMPLETE']);
    changeSet([{ Status: 'CREATE_PENDING' }, { Status: 'FAILED', StatusReason: reason }]);
    const result = await d.run();
    expect(result.changed).toBe(false);
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('UPDATE');
    expect(cfnMock.commandCalls(DeleteChangeSetCommand)[0]!.args[0].input).toEqual({ ChangeSetName: CHANGE_SET_ID });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('treats a ValidationError "No updates are to be performed" from CreateChangeSet as success', async () => {
    const d = await deploy();
    stackStatuses(['UPDATE_COMPLETE']);
    cfnMock.on(CreateChangeSetCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }));
    expect((await d.run()).changed).toBe(false);
  });

  it('deletes a stack stuck in ROLLBACK_COMPLETE and creates it again', async () => {
    const d = await deploy();
    stackStatuses(['ROLLBACK_COMPLETE', 'ROLLBACK_COMPLETE', 'DELETE_IN_PROGRESS', 'DELETE_COMPLETE', 'CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
    cfnMock.on(DeleteStackCommand).resolves({});
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    events(d.clock, []);
    await d.run();
    expect(cfnMock.commandCalls(DeleteStackCommand)[0]!.args[0].input).toEqual({ StackName: STACK_ID });
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
    expect(d.log[0]).toBe('Stack fanout is ROLLBACK_COMPLETE (a failed create) and cannot be updated: deleting it to create it again.');
  });

  it('reports every failed resource of a failed update, not just the first', async () => {
    const d = await deploy();
    stackStatuses(['UPDATE_COMPLETE', 'UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE']);
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    events(d.clock, [
      { LogicalResourceId: 'WorkerFunction', ResourceType: 'AWS::Lambda::Function', ResourceStatus: 'UPDATE_FAILED', ResourceStatusReason: 'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey."' },
      { LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'UPDATE_FAILED', ResourceStatusReason: 'Resource update cancelled' },
      { LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: 'UPDATE_ROLLBACK_COMPLETE' },
    ]);
    const failure = await d.run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StackDeployError);
    expect((failure as StackDeployError).failures).toEqual([
      { logicalId: 'WorkerFunction', type: 'AWS::Lambda::Function', status: 'UPDATE_FAILED', reason: 'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey."' },
      { logicalId: 'WorkerRole', type: 'AWS::IAM::Role', status: 'UPDATE_FAILED', reason: 'Resource update cancelled' },
    ]);
    expect((failure as Error).message).toContain('Deploying stack fanout ended in UPDATE_ROLLBACK_COMPLETE. Failed resources:\n  WorkerFunction (AWS::Lambda::Function) UPDATE_FAILED');
  });

  it('fails with the reason when a change set fails for another reason', async () => {
    const d = await deploy();
    stackStatuses(['UPDATE_COMPLETE']);
    changeSet([{ Status: 'FAILED', StatusReason: 'Parameters: [InputBucket] must have values' }]);
    await expect(d.run()).rejects.toThrow('Change set for fanout failed: Parameters: [InputBucket] must have values');
  });

  it('sends a template over 51,200 bytes through S3 as TemplateURL', async () => {
    const big = `# ${'x'.repeat(TEMPLATE_BODY_LIMIT)}\nResources: {}`;
    const d = await deploy({ templateBody: big });
    stackStatuses(['UPDATE_COMPLETE']);
    changeSet([{ Status: 'FAILED', StatusReason: "The submitted information didn't contain changes." }]);
    await d.run();
    expect(d.uploads).toEqual([big]);
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create.TemplateURL).toBe('https://artifacts.s3.us-east-1.amazonaws.com/templates/t.yaml');
    expect(create.TemplateBody).toBeUndefined();
  });

  it('turns termination protection on when asked', async () => {
    const d = await deploy({ terminationProtection: true });
    stackStatuses([undefined, 'CREATE_COMPLETE'], { EnableTerminationProtection: false });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    events(d.clock, []);
    await d.run();
    expect(cfnMock.commandCalls(UpdateTerminationProtectionCommand)[0]!.args[0].input).toEqual({ StackName: 'fanout', EnableTerminationProtection: true });
  });
});
