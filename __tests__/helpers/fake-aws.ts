import {
  CreateChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type CloudFormationClient,
} from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { executionName, type StepIdentity } from '../../src/aws/execution.ts';
import { S3Store } from '../../src/store/s3-store.ts';
import type { VirtualClock } from './virtual-clock.ts';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:fanout-fanout`;

/** CloudFormation's answer to DescribeStacks for a stack name that does not exist (checked against moto's). */
export function stackNotFound(stackName: string): Error {
  return Object.assign(new Error(`Stack with id ${stackName} does not exist`), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
}

/** A small CloudFormation: change sets complete, executing one completes the stack with the outputs its template has. */
export function fakeStacks(cfnMock: AwsClientStub<CloudFormationClient>) {
  const stacks = new Map<string, { id: string; status: string; outputs: Record<string, string> }>();
  const changeSets = new Map<string, { stack: string; type: string }>();
  const byIdOrName = (key: string) => [...stacks.entries()].find(([name, s]) => name === key || s.id === key);
  cfnMock.on(DescribeStacksCommand).callsFake(({ StackName }) => {
    const found = byIdOrName(StackName);
    if (found === undefined || (found[1].status === 'DELETE_COMPLETE' && StackName === found[0])) {
      throw stackNotFound(StackName);
    }
    const [name, stack] = found;
    return { Stacks: [{ StackName: name, StackId: stack.id, StackStatus: stack.status, CreationTime: new Date(), Outputs: Object.entries(stack.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] };
  });
  cfnMock.on(CreateChangeSetCommand).callsFake(({ StackName, ChangeSetType, ChangeSetName }) => {
    const id = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:changeSet/${ChangeSetName}/x`;
    const stackId = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${StackName}/id`;
    if (!stacks.has(StackName)) stacks.set(StackName, { id: stackId, status: 'REVIEW_IN_PROGRESS', outputs: {} });
    changeSets.set(id, { stack: StackName, type: ChangeSetType });
    return { Id: id, StackId: stackId };
  });
  cfnMock.on(DescribeChangeSetCommand).callsFake(({ ChangeSetName }) => ({ Status: 'CREATE_COMPLETE', StackId: stacks.get(changeSets.get(ChangeSetName)!.stack)!.id }));
  cfnMock.on(ExecuteChangeSetCommand).callsFake(({ ChangeSetName }) => {
    const { stack, type } = changeSets.get(ChangeSetName)!;
    stacks.get(stack)!.status = `${type}_COMPLETE`;
    stacks.get(stack)!.outputs = stack === 'sfn-fanout-bootstrap' ? { BucketName: 'fanout-artifacts' } : { StateMachineArn: STATE_MACHINE };
    return {};
  });
  cfnMock.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
  cfnMock.on(DeleteStackCommand).callsFake(({ StackName }) => {
    byIdOrName(StackName)![1].status = 'DELETE_COMPLETE';
    return {};
  });
  return stacks;
}

/** The batch file the reducer writes for a two-partition run: both succeeded, or the second timed out. */
export function batchFile(runId: string, status: 'SUCCEEDED' | 'FAILED'): string {
  return JSON.stringify({
    status, partitions: 2, succeeded: status === 'SUCCEEDED' ? 2 : 1, failed: status === 'SUCCEEDED' ? 0 : 1, records: 20, handed: 20, rejected: 0, bytes: 4096,
    toleratedFailurePercentage: 0, result: { requests: 20 }, failures: [], runId, job: {}, plan: { objects: 1, bytes: 4096, partitions: 2 }, manifest: `_sfn-fanout/runs/${runId}/manifest.json`,
    outcomes: [
      { id: 0, status: 'succeeded', bytes: 2048, records: 20, handed: 20, rejected: 0, rejectedSamples: [], outputs: [], startedAt: 1000, finishedAt: 61_000, result: null },
      status === 'SUCCEEDED'
        ? { id: 1, status: 'succeeded', bytes: 2048, records: 0, handed: 0, rejected: 0, rejectedSamples: [], outputs: [], startedAt: 1000, finishedAt: 61_000, result: null }
        : { id: 1, status: 'failed', bytes: 2048, error: 'Sandbox.Timedout', cause: '{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 900.00 seconds"}' },
    ],
  });
}

/** The execution runs for a while, then the reducer's batch file appears, as in AWS. */
export function fakeExecution(sfnMock: AwsClientStub<SFNClient>, s3: S3Client, step: StepIdentity, status: 'SUCCEEDED' | 'FAILED', clock: VirtualClock) {
  const name = executionName(step);
  const arn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:fanout-fanout:${name}`;
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date(clock.now()) });
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
  let polls = 0;
  sfnMock.on(DescribeExecutionCommand).callsFake(async () => {
    polls += 1;
    if (polls < 3) return { executionArn: arn, status: 'RUNNING', startDate: new Date(0) };
    await new S3Store(s3, 'results-out', 'nightly/').write(`_sfn-fanout/runs/${name}/batch.json`, batchFile(name, status));
    // The reducer's commit point, its last write.
    await new S3Store(s3, 'results-out', 'nightly/').write(`_sfn-fanout/runs/${name}/manifest.json`, JSON.stringify({ runId: name, status }));
    return status === 'SUCCEEDED'
      ? { executionArn: arn, status, startDate: new Date(0), stopDate: new Date(120_000), output: '{}' }
      : { executionArn: arn, status, startDate: new Date(0), stopDate: new Date(120_000), error: 'SfnFanout.ToleratedFailureExceeded', cause: 'More partitions failed than ToleratedFailurePercentage allows.' };
  });
  return { name, arn };
}
