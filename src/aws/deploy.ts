import { createHash } from 'node:crypto';
import {
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  UpdateTerminationProtectionCommand,
  type Capability,
  type CloudFormationClient,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { FanoutError, errorMessage } from '../errors.ts';
import { fullJitterDelay, isTransient } from './backoff.ts';
import type { Clock } from './clock.ts';

/** TemplateBody's limit; a larger template goes through S3 as TemplateURL. */
export const TEMPLATE_BODY_LIMIT = 51_200;

export interface DeployRequest {
  readonly stackName: string;
  readonly templateBody: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly capabilities: readonly Capability[];
  readonly tags: Readonly<Record<string, string>>;
  readonly roleArn?: string;
  readonly terminationProtection?: boolean;
}

export interface DeployDeps {
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Puts a template too big for TemplateBody in S3 and returns its HTTPS URL. */
  readonly uploadTemplate: (body: string) => Promise<string>;
  readonly random?: () => number;
}

export interface DeployResult {
  readonly stackId: string;
  readonly outputs: Readonly<Record<string, string>>;
  /** False when the template and parameters matched the stack already. */
  readonly changed: boolean;
}

/** A failed resource, as the log and the summary list it. */
export interface FailedResource {
  readonly logicalId: string;
  readonly type: string;
  readonly status: string;
  readonly reason: string;
}

export class StackDeployError extends FanoutError {
  readonly failures: readonly FailedResource[];

  constructor(message: string, failures: readonly FailedResource[]) {
    super(failures.length === 0 ? message : `${message}\n${failures.map((f) => `  ${f.logicalId} (${f.type}) ${f.status}: ${f.reason}`).join('\n')}`);
    this.failures = failures;
  }
}

const NO_CHANGES = /didn't contain changes|No updates are to be performed/i;
const SETTLED = /(_COMPLETE|_FAILED)$/;

/**
 * Creates or updates a stack through a change set. A change set with nothing to do is success (and
 * is deleted); a stack left in ROLLBACK_COMPLETE by a failed create is deleted and created again.
 */
export async function deployStack(cfn: CloudFormationClient, request: DeployRequest, deps: DeployDeps): Promise<DeployResult> {
  const { stackName } = request;
  let existing = await describeStack(cfn, stackName);
  if (existing !== undefined && !SETTLED.test(existing.StackStatus ?? '') && existing.StackStatus !== 'REVIEW_IN_PROGRESS') {
    deps.log(`Stack ${stackName} is ${existing.StackStatus}; waiting for it to settle.`);
    existing = await waitForStack(cfn, deps, existing.StackId!);
  }
  if (existing?.StackStatus === 'ROLLBACK_COMPLETE' || existing?.StackStatus === 'ROLLBACK_FAILED') {
    deps.log(`Stack ${stackName} is ${existing.StackStatus} (a failed create) and cannot be updated: deleting it to create it again.`);
    await deleteStack(cfn, stackName, deps);
    existing = undefined;
  }
  const changeSetType = existing === undefined || existing.StackStatus === 'REVIEW_IN_PROGRESS' ? 'CREATE' : 'UPDATE';
  const template = Buffer.byteLength(request.templateBody) > TEMPLATE_BODY_LIMIT ? { TemplateURL: await deps.uploadTemplate(request.templateBody) } : { TemplateBody: request.templateBody };
  const changeSetName = `sfn-fanout-${createHash('sha256').update(request.templateBody).update(JSON.stringify(request.parameters)).digest('hex').slice(0, 16)}-${deps.clock.now()}`;
  deps.log(`Creating change set ${changeSetName} (${changeSetType}) for stack ${stackName}.`);
  let changeSetId: string;
  try {
    const created = await cfn.send(
      new CreateChangeSetCommand({
        StackName: stackName,
        ChangeSetName: changeSetName,
        ChangeSetType: changeSetType,
        ...template,
        Parameters: Object.entries(request.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
        Capabilities: [...request.capabilities],
        Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })),
        ...(request.roleArn === undefined ? {} : { RoleARN: request.roleArn }),
      }),
    );
    changeSetId = created.Id!;
  } catch (error) {
    if ((error as { name?: string }).name === 'ValidationError' && NO_CHANGES.test(errorMessage(error))) return unchanged(cfn, stackName, deps);
    throw error;
  }
  const changeSet = await waitForChangeSet(cfn, changeSetId, deps);
  if (changeSet.Status === 'FAILED') {
    if (NO_CHANGES.test(changeSet.StatusReason ?? '')) {
      await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: changeSetId }));
      return unchanged(cfn, stackName, deps);
    }
    throw new StackDeployError(`Change set for ${stackName} failed: ${changeSet.StatusReason}`, []);
  }
  const since = deps.clock.now();
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: changeSetId }));
  const stack = await waitForStack(cfn, deps, changeSet.StackId!, since);
  if (!/^(CREATE|UPDATE)_COMPLETE$/.test(stack.StackStatus ?? '')) {
    const failures = await failedResources(cfn, stack.StackId!, since);
    throw new StackDeployError(`Deploying stack ${stackName} ended in ${stack.StackStatus}${stack.StackStatusReason === undefined ? '' : ` (${stack.StackStatusReason})`}. Failed resources:`, failures);
  }
  if (request.terminationProtection !== undefined && request.terminationProtection !== stack.EnableTerminationProtection) {
    await cfn.send(new UpdateTerminationProtectionCommand({ StackName: stackName, EnableTerminationProtection: request.terminationProtection }));
  }
  deps.log(`Stack ${stackName} is ${stack.StackStatus}.`);
  return { stackId: stack.StackId!, outputs: outputsOf(stack), changed: true };
}

async function unchanged(cfn: CloudFormationClient, stackName: string, deps: DeployDeps): Promise<DeployResult> {
  deps.log(`Stack ${stackName} is up to date: nothing to change.`);
  const stack = (await describeStack(cfn, stackName))!;
  return { stackId: stack.StackId!, outputs: outputsOf(stack), changed: false };
}

export async function deleteStack(cfn: CloudFormationClient, stackName: string, deps: DeployDeps): Promise<void> {
  const stack = await describeStack(cfn, stackName);
  if (stack === undefined) return;
  const since = deps.clock.now();
  await cfn.send(new DeleteStackCommand({ StackName: stack.StackId! }));
  const final = await waitForStack(cfn, deps, stack.StackId!, since);
  if (final.StackStatus !== 'DELETE_COMPLETE') {
    const failures = await failedResources(cfn, stack.StackId!, since);
    throw new StackDeployError(`Deleting stack ${stackName} ended in ${final.StackStatus}. Failed resources:`, failures);
  }
  deps.log(`Stack ${stackName} deleted.`);
}

async function describeStack(cfn: CloudFormationClient, stackName: string): Promise<Stack | undefined> {
  try {
    return (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    if ((error as { name?: string }).name === 'ValidationError' && /does not exist/.test(errorMessage(error))) return undefined;
    throw error;
  }
}

async function waitForChangeSet(cfn: CloudFormationClient, changeSetId: string, deps: DeployDeps) {
  for (let attempt = 0; ; attempt += 1) {
    const changeSet = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: changeSetId }));
    if (changeSet.Status === 'CREATE_COMPLETE' || changeSet.Status === 'FAILED') return changeSet;
    await deps.clock.sleep(Math.max(1000, fullJitterDelay(attempt, 2000, 10_000, deps.random)));
  }
}

/**
 * Waits for a stack to settle, streaming its new events to the log. Deleted stacks are looked up
 * by id, since their name no longer resolves.
 */
async function waitForStack(cfn: CloudFormationClient, deps: DeployDeps, stackId: string, since = deps.clock.now()): Promise<Stack> {
  const seen = new Set<string>();
  for (let attempt = 0; ; attempt += 1) {
    let stack: Stack | undefined;
    try {
      stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackId }))).Stacks?.[0];
      for (const event of await newEvents(cfn, stackId, since, seen)) {
        deps.log(`${event.Timestamp?.toISOString() ?? ''} ${event.LogicalResourceId} ${event.ResourceType} ${event.ResourceStatus}${event.ResourceStatusReason === undefined ? '' : `: ${event.ResourceStatusReason}`}`);
      }
    } catch (error) {
      if (!isTransient(error)) throw error;
    }
    if (stack !== undefined && SETTLED.test(stack.StackStatus ?? '')) return stack;
    await deps.clock.sleep(Math.max(2000, fullJitterDelay(attempt, 5000, 30_000, deps.random)));
  }
}

/** Events of this deployment not logged yet, oldest first. */
async function newEvents(cfn: CloudFormationClient, stackId: string, since: number, seen: Set<string>): Promise<StackEvent[]> {
  const fresh: StackEvent[] = [];
  let nextToken: string | undefined;
  pages: do {
    const page = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: nextToken }));
    for (const event of page.StackEvents ?? []) {
      if ((event.Timestamp?.getTime() ?? 0) < since || seen.has(event.EventId!)) break pages;
      seen.add(event.EventId!);
      fresh.push(event);
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return fresh.reverse();
}

/** Every resource that failed in this deployment, not just the first: what users need to fix it. */
export async function failedResources(cfn: CloudFormationClient, stackId: string, since: number): Promise<FailedResource[]> {
  const failures: FailedResource[] = [];
  let nextToken: string | undefined;
  pages: do {
    const page = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: nextToken }));
    for (const event of page.StackEvents ?? []) {
      if ((event.Timestamp?.getTime() ?? 0) < since) break pages;
      if (event.ResourceStatus?.endsWith('_FAILED') === true) {
        failures.push({ logicalId: event.LogicalResourceId ?? '?', type: event.ResourceType ?? '?', status: event.ResourceStatus, reason: event.ResourceStatusReason ?? '' });
      }
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return failures.reverse();
}

function outputsOf(stack: Stack): Record<string, string> {
  return Object.fromEntries((stack.Outputs ?? []).map((output) => [output.OutputKey!, output.OutputValue!]));
}
