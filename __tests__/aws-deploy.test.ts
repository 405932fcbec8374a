import {
  CloudFormationClient,
  ContinueUpdateRollbackCommand,
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
import { deleteStack, deployStack, StackDeployError, TEMPLATE_BODY_LIMIT, type DeployRequest } from '../src/aws/deploy.ts';
import { CancelledError } from '../src/errors.ts';
import { stackNotFound } from './helpers/fake-aws.ts';
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

/** An event as a test writes it: any status string CloudFormation uses. */
type EventSpec = Omit<Partial<StackEvent>, 'ResourceStatus'> & { readonly ResourceStatus?: string };

interface Step {
  /** The statuses DescribeStacks answers after the call, one per call, the last repeating. */
  readonly statuses: (StackStatus | undefined)[];
  /** The events the call adds to the stack's event log, oldest first. */
  readonly events?: EventSpec[];
}

/**
 * One stack as CloudFormation keeps it: DescribeStacks answers its status (a deleted stack only
 * by id), DescribeStackEvents its event log newest first; each operation moves it on as scripted.
 * Event times are ten minutes behind the runner's clock: no event may be judged by the clock.
 */
function scriptedStack(initial: StackStatus | undefined | (StackStatus | undefined)[], script: Partial<Record<'ExecuteChangeSet' | 'DeleteStack' | 'ContinueUpdateRollback', Step[]>> = {}, extra: Record<string, unknown> = {}) {
  let statuses: (StackStatus | undefined)[] = Array.isArray(initial) ? [...initial] : [initial];
  const events: StackEvent[] = [];
  const add = (list: EventSpec[]) => {
    for (const event of list) events.unshift({ EventId: `e${events.length}`, StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(Date.UTC(2026, 10, 27, 1, 50)), ...event } as StackEvent);
  };
  add([{ LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: statuses[0] ?? 'REVIEW_IN_PROGRESS' }]);
  cfnMock.on(DescribeStacksCommand).callsFake(({ StackName }) => {
    const status = statuses.length > 1 ? statuses.shift() : statuses[0];
    if (status === undefined || (status === 'DELETE_COMPLETE' && StackName === 'fanout')) throw stackNotFound(StackName);
    return { Stacks: [{ StackName: 'fanout', StackId: STACK_ID, StackStatus: status, CreationTime: new Date(), Outputs: [{ OutputKey: 'StateMachineArn', OutputValue: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' }], ...extra }] };
  });
  cfnMock.on(DescribeStackEventsCommand).callsFake(() => ({ StackEvents: [...events] }));
  for (const [command, steps] of Object.entries(script)) {
    const Command = { ExecuteChangeSet: ExecuteChangeSetCommand, DeleteStack: DeleteStackCommand, ContinueUpdateRollback: ContinueUpdateRollbackCommand }[command as 'DeleteStack'];
    const queue = [...steps];
    cfnMock.on(Command).callsFake(() => {
      const step = queue.length > 1 ? queue.shift()! : queue[0]!;
      statuses = [...step.statuses];
      add(step.events ?? []);
      return {};
    });
  }
}

function changeSet(statuses: { Status: string; StatusReason?: string }[]) {
  let call = 0;
  cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
  cfnMock.on(DescribeChangeSetCommand).callsFake(() => ({ ChangeSetId: CHANGE_SET_ID, StackId: STACK_ID, ExecutionStatus: 'AVAILABLE', ...statuses[Math.min(call++, statuses.length - 1)] }));
}

function deploy(overrides: Partial<DeployRequest> = {}, deps: { signal?: AbortSignal; random?: () => number } = {}) {
  const clock = new VirtualClock();
  const log: string[] = [];
  const uploads: string[] = [];
  const dependencies = { clock, log: (line: string) => log.push(line), uploadTemplate: async (body: string) => (uploads.push(body), 'https://artifacts.s3.us-east-1.amazonaws.com/templates/t.yaml'), random: () => 0.5, ...deps };
  return { clock, log, uploads, deps: dependencies, run: () => deployStack(cfn, { ...request, ...overrides }, dependencies) };
}

const created = (logicalId: string, type: string) => ({ LogicalResourceId: logicalId, ResourceType: type, ResourceStatus: 'CREATE_COMPLETE' });

beforeEach(() => cfnMock.reset());

describe('deploying the stack through a change set', () => {
  it('creates a new stack, streams its events and returns its outputs, whatever the runner’s clock says', async () => {
    const d = deploy();
    scriptedStack(undefined, { ExecuteChangeSet: [{ statuses: ['CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_COMPLETE'], events: [created('WorkerRole', 'AWS::IAM::Role')] }] });
    changeSet([{ Status: 'CREATE_PENDING' }, { Status: 'CREATE_IN_PROGRESS' }, { Status: 'CREATE_COMPLETE' }]);
    const result = await d.run();
    expect(result).toEqual({ stackId: STACK_ID, outputs: { StateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' }, changed: true });
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create).toEqual({
      StackName: 'fanout',
      ChangeSetName: expect.stringMatching(/^sfn-fanout-[0-9a-f]{16}-\d+$/),
      ChangeSetType: 'CREATE',
      TemplateBody: 'Resources: {}',
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: [{ ParameterKey: 'ArtifactBucket', ParameterValue: 'artifacts' }, { ParameterKey: 'MaxConcurrency', ParameterValue: '10' }],
      Tags: [{ Key: 'project', Value: 'logs' }],
    });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)[0]!.args[0].input).toEqual({ ChangeSetName: CHANGE_SET_ID });
    expect(d.log.filter((line) => line.includes('AWS::IAM::Role'))).toEqual(['2026-11-27T01:50:00.000Z WorkerRole AWS::IAM::Role CREATE_COMPLETE']);
  });

  it('sends no empty Tags or Capabilities: an empty list on an UPDATE would strip the tags the stack has', async () => {
    const d = deploy({ tags: {}, capabilities: [] });
    scriptedStack('UPDATE_COMPLETE', { ExecuteChangeSet: [{ statuses: ['UPDATE_COMPLETE'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await d.run();
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create.ChangeSetType).toBe('UPDATE');
    expect('Tags' in create).toBe(false);
    expect('Capabilities' in create).toBe(false);
  });

  it.each([
    "The submitted information didn't contain changes. Submit different information to create a change set.",
    'No updates are to be performed.',
  ])('treats a change set with nothing to do as success and deletes it (%s)', async (reason) => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'CREATE_PENDING' }, { Status: 'FAILED', StatusReason: reason }]);
    const result = await d.run();
    expect(result.changed).toBe(false);
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('UPDATE');
    expect(cfnMock.commandCalls(DeleteChangeSetCommand)[0]!.args[0].input).toEqual({ ChangeSetName: CHANGE_SET_ID });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('treats a ValidationError "No updates are to be performed" from CreateChangeSet as success', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE');
    cfnMock.on(CreateChangeSetCommand).rejects(Object.assign(new Error('No updates are to be performed.'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }));
    expect((await d.run()).changed).toBe(false);
  });

  it('turns termination protection on when asked, and leaves it alone when it already is', async () => {
    const d = deploy({ terminationProtection: true });
    scriptedStack(undefined, { ExecuteChangeSet: [{ statuses: ['CREATE_COMPLETE'] }] }, { EnableTerminationProtection: false });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await d.run();
    expect(cfnMock.commandCalls(UpdateTerminationProtectionCommand)[0]!.args[0].input).toEqual({ StackName: STACK_ID, EnableTerminationProtection: true });
    cfnMock.reset();
    scriptedStack('UPDATE_COMPLETE', {}, { EnableTerminationProtection: true });
    changeSet([{ Status: 'FAILED', StatusReason: "The submitted information didn't contain changes." }]);
    await deploy({ terminationProtection: true }).run();
    expect(cfnMock.commandCalls(UpdateTerminationProtectionCommand)).toHaveLength(0);
  });

  it('turns termination protection on even when nothing else changed (B8)', async () => {
    const d = deploy({ terminationProtection: true });
    scriptedStack('UPDATE_COMPLETE', {}, { EnableTerminationProtection: false });
    changeSet([{ Status: 'FAILED', StatusReason: "The submitted information didn't contain changes." }]);
    expect((await d.run()).changed).toBe(false);
    expect(cfnMock.commandCalls(UpdateTerminationProtectionCommand).map((call) => call.args[0].input)).toEqual([{ StackName: STACK_ID, EnableTerminationProtection: true }]);
  });

  it('sends a template over 51,200 bytes through S3 as TemplateURL', async () => {
    const big = `# ${'x'.repeat(TEMPLATE_BODY_LIMIT)}\nResources: {}`;
    const d = deploy({ templateBody: big });
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'FAILED', StatusReason: "The submitted information didn't contain changes." }]);
    await d.run();
    expect(d.uploads).toEqual([big]);
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create.TemplateURL).toBe('https://artifacts.s3.us-east-1.amazonaws.com/templates/t.yaml');
    expect(create.TemplateBody).toBeUndefined();
  });

  it('fails with the reason when a change set fails for another reason', async () => {
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'FAILED', StatusReason: 'Parameters: [InputBucket] must have values' }]);
    await expect(deploy().run()).rejects.toThrow('Change set for fanout failed: Parameters: [InputBucket] must have values');
  });
});

describe('a stack a failed or unfinished operation left behind', () => {
  it('reports every failed resource of a failed update, not just the first, and none of earlier operations', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE', {
      ExecuteChangeSet: [{
        statuses: ['UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE'],
        events: [
          { LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: 'UPDATE_IN_PROGRESS' },
          { LogicalResourceId: 'WorkerFunction', ResourceType: 'AWS::Lambda::Function', ResourceStatus: 'UPDATE_FAILED', ResourceStatusReason: 'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey."' },
          { LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'UPDATE_FAILED', ResourceStatusReason: 'Resource update cancelled' },
          { LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: 'UPDATE_ROLLBACK_COMPLETE' },
        ],
      }],
    });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    const failure = await d.run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StackDeployError);
    expect((failure as StackDeployError).failures).toEqual([
      { logicalId: 'WorkerFunction', type: 'AWS::Lambda::Function', status: 'UPDATE_FAILED', reason: 'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey."' },
      { logicalId: 'WorkerRole', type: 'AWS::IAM::Role', status: 'UPDATE_FAILED', reason: 'Resource update cancelled' },
    ]);
    expect((failure as Error).message).toContain('Deploying stack fanout ended in UPDATE_ROLLBACK_COMPLETE. Failed resources:\n  WorkerFunction (AWS::Lambda::Function) UPDATE_FAILED');
  });

  it('deletes a stack stuck in ROLLBACK_COMPLETE and creates it again', async () => {
    const d = deploy();
    scriptedStack('ROLLBACK_COMPLETE', { DeleteStack: [{ statuses: ['DELETE_IN_PROGRESS', 'DELETE_COMPLETE'] }], ExecuteChangeSet: [{ statuses: ['CREATE_IN_PROGRESS', 'CREATE_COMPLETE'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await d.run();
    expect(cfnMock.commandCalls(DeleteStackCommand)[0]!.args[0].input).toEqual({ StackName: STACK_ID });
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
    expect(d.log[0]).toBe('Stack fanout is ROLLBACK_COMPLETE (a failed create) and cannot be updated: deleting it to create it again.');
  });

  it('waits for a stack still DELETE_IN_PROGRESS, then creates it rather than update it (B4)', async () => {
    const d = deploy();
    // By name it is DELETE_IN_PROGRESS; followed by its id, it ends DELETE_COMPLETE (and its name no longer resolves).
    scriptedStack(['DELETE_IN_PROGRESS', 'DELETE_IN_PROGRESS', 'DELETE_COMPLETE'], { ExecuteChangeSet: [{ statuses: ['CREATE_IN_PROGRESS', 'CREATE_COMPLETE'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await d.run();
    expect(d.log[0]).toBe('Stack fanout is DELETE_IN_PROGRESS; waiting for it to settle.');
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
  });

  it('continues the rollback of a stack in UPDATE_ROLLBACK_FAILED, with the service role, then updates it (B7)', async () => {
    const d = deploy({ roleArn: 'arn:aws:iam::123456789012:role/cfn' });
    scriptedStack('UPDATE_ROLLBACK_FAILED', {
      ContinueUpdateRollback: [{ statuses: ['UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE'] }],
      ExecuteChangeSet: [{ statuses: ['UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE'] }],
    });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    expect((await d.run()).changed).toBe(true);
    expect(cfnMock.commandCalls(ContinueUpdateRollbackCommand).map((call) => call.args[0].input)).toEqual([{ StackName: STACK_ID, RoleARN: 'arn:aws:iam::123456789012:role/cfn' }]);
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('UPDATE');
  });

  it('says which resources to skip when the rollback cannot continue (B7)', async () => {
    scriptedStack('UPDATE_ROLLBACK_FAILED', {
      ContinueUpdateRollback: [{
        statuses: ['UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_FAILED'],
        events: [{ LogicalResourceId: 'WorkerFunction', ResourceType: 'AWS::Lambda::Function', ResourceStatus: 'UPDATE_FAILED', ResourceStatusReason: 'Function not found' }],
      }],
    });
    await expect(deploy().run()).rejects.toThrow(
      'Stack fanout is still UPDATE_ROLLBACK_FAILED after ContinueUpdateRollback. Fix the resources below, or skip them: aws cloudformation continue-update-rollback --stack-name fanout --resources-to-skip WorkerFunction; then run again. Resources that failed:\n  WorkerFunction (AWS::Lambda::Function) UPDATE_FAILED: Function not found',
    );
    expect(cfnMock.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });

  it('refuses a DELETE_FAILED stack with the command that deletes it, keeping what failed (B7)', async () => {
    scriptedStack('DELETE_FAILED');
    cfnMock.on(DescribeStackEventsCommand).resolves({
      StackEvents: [
        { EventId: 'e3', StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(), LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: 'DELETE_FAILED' },
        { EventId: 'e2', StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(), LogicalResourceId: 'WorkerLogGroup', ResourceType: 'AWS::Logs::LogGroup', ResourceStatus: 'DELETE_FAILED', ResourceStatusReason: 'Access denied' },
        { EventId: 'e1', StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(), LogicalResourceId: 'fanout', ResourceType: 'AWS::CloudFormation::Stack', ResourceStatus: 'DELETE_IN_PROGRESS' },
        { EventId: 'e0', StackId: STACK_ID, StackName: 'fanout', Timestamp: new Date(), LogicalResourceId: 'OldBucket', ResourceType: 'AWS::S3::Bucket', ResourceStatus: 'CREATE_FAILED', ResourceStatusReason: 'long ago' },
      ],
    });
    const failure = await deploy().run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StackDeployError);
    expect((failure as Error).message).toContain('Stack fanout is DELETE_FAILED: an earlier delete did not finish, and such a stack can only be deleted. Delete it, keeping what failed to delete: aws cloudformation delete-stack --stack-name fanout --retain-resources WorkerLogGroup; then run again.');
    expect((failure as StackDeployError).failures.map((f) => f.logicalId)).toEqual(['WorkerLogGroup', 'fanout']);
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(0);
  });

  it('deletes an ephemeral stack left DELETE_FAILED again, then creates it (B7)', async () => {
    const d = deploy({ ephemeral: true });
    scriptedStack('DELETE_FAILED', { DeleteStack: [{ statuses: ['DELETE_IN_PROGRESS', 'DELETE_COMPLETE'] }], ExecuteChangeSet: [{ statuses: ['CREATE_COMPLETE'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await d.run();
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(1);
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
  });

  it('tries a delete that ends DELETE_FAILED once more, then names the command that finishes it (B7)', async () => {
    const failed = { statuses: ['DELETE_IN_PROGRESS', 'DELETE_FAILED'] as StackStatus[], events: [{ LogicalResourceId: 'WorkerRole', ResourceType: 'AWS::IAM::Role', ResourceStatus: 'DELETE_FAILED', ResourceStatusReason: 'Cannot delete entity, must detach all policies first.' }] };
    scriptedStack('UPDATE_COMPLETE', { DeleteStack: [failed, failed] });
    const d = deploy();
    await expect(deleteStack(cfn, 'fanout', d.deps)).rejects.toThrow('Deleting stack fanout ended in DELETE_FAILED twice. Delete it, keeping what failed to delete: aws cloudformation delete-stack --stack-name fanout --retain-resources WorkerRole.');
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(2);
    expect(d.log).toContain('Deleting stack fanout ended in DELETE_FAILED: trying once more.');
  });
});

describe('waits that end (B6)', () => {
  const serverError = () => Object.assign(new Error('Internal Failure'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });

  it('gives up on a stack that never settles after the deadline, saying where it stands', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE', { ExecuteChangeSet: [{ statuses: ['UPDATE_IN_PROGRESS'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    await expect(d.run()).rejects.toThrow('stack fanout is still UPDATE_IN_PROGRESS after 90 min: stopped waiting. CloudFormation carries on with it');
    expect(d.clock.now() - Date.UTC(2026, 10, 27, 2)).toBeGreaterThanOrEqual(90 * 60_000);
    expect(d.clock.now() - Date.UTC(2026, 10, 27, 2)).toBeLessThan(91 * 60_000);
  });

  it('gives up on a change set after its deadline', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'CREATE_IN_PROGRESS' }]);
    await expect(d.run()).rejects.toThrow('the change set of stack fanout is still CREATE_IN_PROGRESS after 15 min');
  });

  it('retries a 5xx, but not forever: nine in a row end the wait with the error', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    let failing = 0;
    cfnMock.on(DescribeChangeSetCommand).callsFake(() => {
      failing += 1;
      throw serverError();
    });
    await expect(d.run()).rejects.toThrow('Gave up waiting for the change set of stack fanout after 9 failed calls in a row: Internal Failure');
    expect(failing).toBe(9);
  });

  it('carries on after a few 5xx in a row', async () => {
    const d = deploy();
    scriptedStack('UPDATE_COMPLETE', { ExecuteChangeSet: [{ statuses: ['UPDATE_COMPLETE'] }] });
    let calls = 0;
    cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
    cfnMock.on(DescribeChangeSetCommand).callsFake(() => {
      calls += 1;
      if (calls <= 8) throw serverError();
      return { Status: 'CREATE_COMPLETE', StackId: STACK_ID };
    });
    expect((await d.run()).changed).toBe(true);
  });

  it('stops waiting at once when cancelled, and says the stack carries on', async () => {
    const controller = new AbortController();
    const d = deploy({}, { signal: controller.signal });
    scriptedStack('UPDATE_COMPLETE', { ExecuteChangeSet: [{ statuses: ['UPDATE_IN_PROGRESS'] }] });
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    let polls = 0;
    const original = d.clock.sleep.bind(d.clock);
    d.clock.sleep = async (ms: number) => {
      if (++polls === 3) controller.abort();
      await original(ms);
    };
    const failure = await d.run().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CancelledError);
    expect((failure as Error).message).toBe('Cancelled while waiting for stack fanout (UPDATE_IN_PROGRESS).');
    expect(polls).toBe(3);
  });

  it('passes the abort signal to every call, so a call that never returns is cut short', async () => {
    const controller = new AbortController();
    scriptedStack('UPDATE_COMPLETE');
    changeSet([{ Status: 'CREATE_COMPLETE' }]);
    controller.abort();
    await deploy({}, { signal: controller.signal }).run().catch(() => undefined);
    const options = cfnMock.calls().map((call) => ((call.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal);
    expect(options.length).toBeGreaterThan(0);
    expect(options.every((signal) => signal === controller.signal)).toBe(true);
  });
});
