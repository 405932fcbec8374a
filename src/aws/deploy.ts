import { createHash } from 'node:crypto';
import {
  ContinueUpdateRollbackCommand,
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
  type DescribeChangeSetCommandOutput,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { FanoutError, errorMessage } from '../errors.ts';
import type { Clock } from './clock.ts';
import { pollUntil, type PollLimits } from './poll.ts';

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
  /** The stack is deleted after the run: one left DELETE_FAILED is deleted again, not reported. */
  readonly ephemeral?: boolean;
}

/** How long CloudFormation gets: change sets take seconds, stacks minutes (a Lambda in a VPC can take 40 to delete). */
export interface DeployWaits {
  readonly changeSet: PollLimits;
  readonly stack: PollLimits;
}

export const DEFAULT_DEPLOY_WAITS: DeployWaits = {
  changeSet: { deadlineMs: 15 * 60_000, maxTransientFailures: 8 },
  stack: { deadlineMs: 90 * 60_000, maxTransientFailures: 8 },
};

export interface DeployDeps {
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Puts a template too big for TemplateBody in S3 and returns its HTTPS URL. */
  readonly uploadTemplate: (body: string) => Promise<string>;
  readonly random?: () => number;
  /** Cancels every call and wait (the first SIGINT or SIGTERM). */
  readonly signal?: AbortSignal;
  readonly waits?: DeployWaits;
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
 * is deleted). A stack that a failed operation left unusable is recovered where AWS allows it
 * (recreated, rolled back, deleted again) or refused with the exact command that fixes it.
 */
export async function deployStack(cfn: CloudFormationClient, request: DeployRequest, deps: DeployDeps): Promise<DeployResult> {
  const { stackName } = request;
  const existing = await recoverStack(cfn, await settledStack(cfn, stackName, deps), request, deps);
  const changeSetType = existing === undefined || existing.StackStatus === 'REVIEW_IN_PROGRESS' ? 'CREATE' : 'UPDATE';
  const template = Buffer.byteLength(request.templateBody) > TEMPLATE_BODY_LIMIT ? { TemplateURL: await deps.uploadTemplate(request.templateBody) } : { TemplateBody: request.templateBody };
  const changeSetName = `sfn-fanout-${createHash('sha256').update(request.templateBody).update(JSON.stringify(request.parameters)).digest('hex').slice(0, 16)}-${deps.clock.now()}`;
  const tags = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
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
        // An empty list is not the same as none: empty Tags on an UPDATE strips the tags the stack has.
        ...(request.capabilities.length === 0 ? {} : { Capabilities: [...request.capabilities] }),
        ...(tags.length === 0 ? {} : { Tags: tags }),
        ...(request.roleArn === undefined ? {} : { RoleARN: request.roleArn }),
      }),
      abortable(deps),
    );
    changeSetId = created.Id!;
  } catch (error) {
    if ((error as { name?: string }).name === 'ValidationError' && NO_CHANGES.test(errorMessage(error))) return unchanged(cfn, request, deps);
    throw error;
  }
  const changeSet = await waitForChangeSet(cfn, changeSetId, stackName, deps);
  if (changeSet.Status === 'FAILED') {
    if (NO_CHANGES.test(changeSet.StatusReason ?? '')) {
      await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: changeSetId }), abortable(deps));
      return unchanged(cfn, request, deps);
    }
    throw new StackDeployError(`Change set for ${stackName} failed: ${changeSet.StatusReason}`, []);
  }
  const marker = await newestEventId(cfn, changeSet.StackId!, deps);
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: changeSetId }), abortable(deps));
  const stack = await waitForStack(cfn, changeSet.StackId!, stackName, marker, deps);
  if (!/^(CREATE|UPDATE)_COMPLETE$/.test(stack.StackStatus ?? '')) {
    const failures = await failedResources(cfn, stack.StackId!, marker, deps);
    throw new StackDeployError(`Deploying stack ${stackName} ended in ${stack.StackStatus}${stack.StackStatusReason === undefined ? '' : ` (${stack.StackStatusReason})`}. Failed resources:`, failures);
  }
  await applyTerminationProtection(cfn, stack, request, deps);
  deps.log(`Stack ${stackName} is ${stack.StackStatus}.`);
  return { stackId: stack.StackId!, outputs: outputsOf(stack), changed: true };
}

async function unchanged(cfn: CloudFormationClient, request: DeployRequest, deps: DeployDeps): Promise<DeployResult> {
  deps.log(`Stack ${request.stackName} is up to date: nothing to change.`);
  const stack = (await describeStack(cfn, request.stackName, deps))!;
  await applyTerminationProtection(cfn, stack, request, deps);
  return { stackId: stack.StackId!, outputs: outputsOf(stack), changed: false };
}

async function applyTerminationProtection(cfn: CloudFormationClient, stack: Stack, request: DeployRequest, deps: DeployDeps): Promise<void> {
  if (request.terminationProtection === undefined || request.terminationProtection === (stack.EnableTerminationProtection ?? false)) return;
  await cfn.send(new UpdateTerminationProtectionCommand({ StackName: stack.StackId!, EnableTerminationProtection: request.terminationProtection }), abortable(deps));
  deps.log(`Termination protection of stack ${request.stackName} is ${request.terminationProtection ? 'on' : 'off'}.`);
}

/** The stack as a change set can meet it: an operation in progress is waited for; a deleted stack is none. */
async function settledStack(cfn: CloudFormationClient, stackName: string, deps: DeployDeps): Promise<Stack | undefined> {
  let stack = await describeStack(cfn, stackName, deps);
  if (stack !== undefined && !SETTLED.test(stack.StackStatus ?? '') && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
    deps.log(`Stack ${stackName} is ${stack.StackStatus}; waiting for it to settle.`);
    stack = await waitForStack(cfn, stack.StackId!, stackName, await newestEventId(cfn, stack.StackId!, deps), deps);
  }
  // Described by id, a deleted stack still answers (DELETE_COMPLETE); its name is free to create.
  return stack?.StackStatus === 'DELETE_COMPLETE' ? undefined : stack;
}

/** Brings a stack a failed operation left behind to a state a change set accepts, or says what to run. */
async function recoverStack(cfn: CloudFormationClient, stack: Stack | undefined, request: DeployRequest, deps: DeployDeps): Promise<Stack | undefined> {
  const { stackName } = request;
  switch (stack?.StackStatus) {
    case 'ROLLBACK_COMPLETE':
    case 'ROLLBACK_FAILED':
      deps.log(`Stack ${stackName} is ${stack.StackStatus} (a failed create) and cannot be updated: deleting it to create it again.`);
      await deleteStack(cfn, stackName, deps);
      return undefined;
    case 'DELETE_FAILED': {
      if (request.ephemeral === true) {
        deps.log(`Stack ${stackName} is DELETE_FAILED (an earlier delete did not finish): deleting it again, as it is deleted after the run anyway.`);
        await deleteStack(cfn, stackName, deps);
        return undefined;
      }
      const failures = await failedResources(cfn, stack.StackId!, startOf('DELETE_IN_PROGRESS'), deps);
      throw new StackDeployError(
        `Stack ${stackName} is DELETE_FAILED: an earlier delete did not finish, and such a stack can only be deleted. Delete it, keeping what failed to delete: ${retainCommand(stackName, failures)}; then run again. Resources that failed:`,
        failures,
      );
    }
    case 'UPDATE_ROLLBACK_FAILED': {
      deps.log(`Stack ${stackName} is UPDATE_ROLLBACK_FAILED: continuing the rollback (ContinueUpdateRollback) before updating it.`);
      const marker = await newestEventId(cfn, stack.StackId!, deps);
      await cfn.send(new ContinueUpdateRollbackCommand({ StackName: stack.StackId!, ...(request.roleArn === undefined ? {} : { RoleARN: request.roleArn }) }), abortable(deps));
      const rolledBack = await waitForStack(cfn, stack.StackId!, stackName, marker, deps);
      if (rolledBack.StackStatus === 'UPDATE_ROLLBACK_COMPLETE') return rolledBack;
      const failures = await failedResources(cfn, stack.StackId!, marker, deps);
      const ids = [...new Set(failures.map((failure) => failure.logicalId).filter((id) => id !== stackName))];
      throw new StackDeployError(
        `Stack ${stackName} is still ${rolledBack.StackStatus} after ContinueUpdateRollback. Fix the resources below, or skip them: aws cloudformation continue-update-rollback --stack-name ${stackName}${ids.length === 0 ? '' : ` --resources-to-skip ${ids.join(' ')}`}; then run again. Resources that failed:`,
        failures,
      );
    }
    default:
      return stack;
  }
}

/**
 * Deletes a stack and waits until it is gone. A delete that ends DELETE_FAILED is tried once more
 * (resources often fail on a dependency that the first attempt removed); after that the error
 * names the resources and the command that deletes the rest.
 */
export async function deleteStack(cfn: CloudFormationClient, stackName: string, deps: DeployDeps): Promise<void> {
  const stack = await settledStack(cfn, stackName, deps);
  if (stack === undefined) return;
  for (let attempt = 1; ; attempt += 1) {
    const marker = await newestEventId(cfn, stack.StackId!, deps);
    await cfn.send(new DeleteStackCommand({ StackName: stack.StackId! }), abortable(deps));
    const final = await waitForStack(cfn, stack.StackId!, stackName, marker, deps);
    if (final.StackStatus === 'DELETE_COMPLETE') {
      deps.log(`Stack ${stackName} deleted.`);
      return;
    }
    const failures = await failedResources(cfn, stack.StackId!, marker, deps);
    if (attempt === 2) {
      throw new StackDeployError(`Deleting stack ${stackName} ended in ${final.StackStatus} twice. Delete it, keeping what failed to delete: ${retainCommand(stackName, failures)}. Failed resources:`, failures);
    }
    deps.log(`Deleting stack ${stackName} ended in ${final.StackStatus}: trying once more.`);
  }
}

/** Starts a stack's deletion without waiting for it: what a cancelled run still owes an ephemeral stack. */
export async function requestStackDeletion(cfn: CloudFormationClient, stackName: string, log: (line: string) => void): Promise<void> {
  await cfn.send(new DeleteStackCommand({ StackName: stackName }), { abortSignal: AbortSignal.timeout(10_000) });
  log(`Requested the deletion of stack ${stackName}; CloudFormation finishes it without this run.`);
}

function retainCommand(stackName: string, failures: readonly FailedResource[]): string {
  const ids = [...new Set(failures.map((failure) => failure.logicalId).filter((id) => id !== stackName))];
  return `aws cloudformation delete-stack --stack-name ${stackName}${ids.length === 0 ? '' : ` --retain-resources ${ids.join(' ')}`}`;
}

/** Request options that let the abort signal cut a call short. */
export function abortable(deps: { readonly signal?: AbortSignal | undefined }): { abortSignal?: AbortSignal } {
  return deps.signal === undefined ? {} : { abortSignal: deps.signal };
}

export async function describeStack(cfn: CloudFormationClient, stackName: string, deps: Pick<DeployDeps, 'signal'>): Promise<Stack | undefined> {
  try {
    return (await cfn.send(new DescribeStacksCommand({ StackName: stackName }), abortable(deps))).Stacks?.[0];
  } catch (error) {
    if ((error as { name?: string }).name === 'ValidationError' && /does not exist/.test(errorMessage(error))) return undefined;
    throw error;
  }
}

function waitForChangeSet(cfn: CloudFormationClient, changeSetId: string, stackName: string, deps: DeployDeps): Promise<DescribeChangeSetCommandOutput> {
  return pollUntil(
    () => cfn.send(new DescribeChangeSetCommand({ ChangeSetName: changeSetId }), abortable(deps)),
    (changeSet) => changeSet.Status === 'CREATE_COMPLETE' || changeSet.Status === 'FAILED',
    {
      ...(deps.waits ?? DEFAULT_DEPLOY_WAITS).changeSet,
      clock: deps.clock,
      signal: deps.signal,
      random: deps.random,
      firstDelayMs: 2000,
      minDelayMs: 1000,
      maxDelayMs: 10_000,
      what: `the change set of stack ${stackName}`,
      status: (last) => last?.Status ?? 'not described yet',
      onDeadline: 'Look at the change set in the CloudFormation console, delete it, and run again.',
    },
  );
}

/**
 * Waits for a stack to settle, streaming the events newer than `marker` (the newest event before
 * the operation started: no clocks compared, so a runner's skewed clock hides nothing). A deleted
 * stack is followed by its id, since its name no longer resolves.
 */
function waitForStack(cfn: CloudFormationClient, stackId: string, stackName: string, marker: string | undefined, deps: DeployDeps): Promise<Stack> {
  const seen = new Set<string>();
  return pollUntil(
    async () => {
      const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackId }), abortable(deps))).Stacks?.[0];
      for (const event of await eventsSince(cfn, stackId, marker, deps, seen)) {
        deps.log(`${event.Timestamp?.toISOString() ?? ''} ${event.LogicalResourceId} ${event.ResourceType} ${event.ResourceStatus}${event.ResourceStatusReason === undefined ? '' : `: ${event.ResourceStatusReason}`}`);
      }
      return stack;
    },
    (stack) => stack !== undefined && SETTLED.test(stack.StackStatus ?? ''),
    {
      ...(deps.waits ?? DEFAULT_DEPLOY_WAITS).stack,
      clock: deps.clock,
      signal: deps.signal,
      random: deps.random,
      firstDelayMs: 5000,
      minDelayMs: 2000,
      maxDelayMs: 30_000,
      what: `stack ${stackName}`,
      status: (last) => last?.StackStatus ?? 'not described yet',
      onDeadline: 'CloudFormation carries on with it: follow its events in the console, and run again once it settles.',
    },
  ) as Promise<Stack>;
}

async function newestEventId(cfn: CloudFormationClient, stackId: string, deps: DeployDeps): Promise<string | undefined> {
  return (await cfn.send(new DescribeStackEventsCommand({ StackName: stackId }), abortable(deps))).StackEvents?.[0]?.EventId;
}

/** Where a search back through the events stops: at `marker` (an event id), or at the event the predicate picks. */
type EventStop = string | undefined | ((event: StackEvent) => boolean);

/** The stack's own event that started its last operation of this kind, like DELETE_IN_PROGRESS. */
function startOf(status: string): (event: StackEvent) => boolean {
  return (event) => event.ResourceType === 'AWS::CloudFormation::Stack' && event.ResourceStatus === status;
}

/** Events newer than the stop, not seen yet, oldest first. */
async function eventsSince(cfn: CloudFormationClient, stackId: string, stop: EventStop, deps: DeployDeps, seen = new Set<string>()): Promise<StackEvent[]> {
  const fresh: StackEvent[] = [];
  let nextToken: string | undefined;
  pages: do {
    const page = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: nextToken }), abortable(deps));
    for (const event of page.StackEvents ?? []) {
      const reached = typeof stop === 'function' ? stop(event) : event.EventId === stop;
      if (seen.has(event.EventId!) || (reached && typeof stop !== 'function')) break pages;
      seen.add(event.EventId!);
      fresh.push(event);
      if (reached) break pages;
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return fresh.reverse();
}

/** Every resource that failed since the stop, not just the first: what users need to fix it. */
export async function failedResources(cfn: CloudFormationClient, stackId: string, stop: EventStop, deps: DeployDeps): Promise<FailedResource[]> {
  return (await eventsSince(cfn, stackId, stop, deps))
    .filter((event) => event.ResourceStatus?.endsWith('_FAILED') === true)
    .map((event) => ({ logicalId: event.LogicalResourceId ?? '?', type: event.ResourceType ?? '?', status: event.ResourceStatus!, reason: event.ResourceStatusReason ?? '' }));
}

export function outputsOf(stack: Stack): Record<string, string> {
  return Object.fromEntries((stack.Outputs ?? []).map((output) => [output.OutputKey!, output.OutputValue!]));
}
