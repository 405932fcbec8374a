import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { partitionOf } from '../../src/aws/partition.ts';
import type { WireCall } from './moto.ts';

/**
 * IAM policy evaluation for the documented policies, as IAM's evaluation logic is written: an
 * explicit Deny wins, else some Allow must match the action, the resource and every condition.
 * Only the condition operators the documented policies use are known; any other is an error.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface PolicyDocument {
  readonly Statement: readonly Statement[];
}

/** What one call asks IAM for. */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string>>;
}

const list = <T>(value: T | readonly T[] | undefined): readonly T[] => (value === undefined ? [] : Array.isArray(value) ? (value as readonly T[]) : [value as T]);

function wildcard(pattern: string, flags = ''): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, flags);
}

function conditionHolds(condition: Statement['Condition'], context: Readonly<Record<string, string>>): boolean {
  return Object.entries(condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const actual = context[key];
      if (actual === undefined) return false;
      if (operator === 'StringEquals') return list(expected).includes(actual);
      if (operator === 'StringLike') return list(expected).some((pattern) => wildcard(pattern).test(actual));
      throw new Error(`The evaluator does not know the condition operator ${operator}.`);
    }),
  );
}

function matches(statement: Statement, request: IamRequest): boolean {
  return (
    list(statement.Action).some((action) => wildcard(action, 'i').test(request.action)) &&
    list(statement.Resource).some((resource) => wildcard(resource).test(request.resource)) &&
    conditionHolds(statement.Condition, request.context ?? {})
  );
}

export function allows(policy: PolicyDocument, request: IamRequest): boolean {
  if (policy.Statement.some((statement) => statement.Effect === 'Deny' && matches(statement, request))) return false;
  return policy.Statement.some((statement) => statement.Effect === 'Allow' && matches(statement, request));
}

/** A documented policy (template/*.json) with its ${...} placeholders filled in. */
export async function documentedPolicy(file: string, values: Readonly<Record<string, string>>): Promise<PolicyDocument> {
  const text = (await readFile(path.join(root, file), 'utf8')).replace(/\$\{(\w+)\}/g, (whole, name: string) => {
    if (values[name] === undefined) throw new Error(`${file} has the placeholder ${whole}, and the test gives it no value.`);
    return values[name]!;
  });
  return JSON.parse(text) as PolicyDocument;
}

/** The partition of the region a call was signed for. */
const partition = (call: WireCall): string => partitionOf(call.region).name;

/** A CloudFormation call's stack: its StackName (a name or a stack ARN), or the stack a change set belongs to. */
function stackArn(call: WireCall, account: string, changeSets: ReadonlyMap<string, string>): string {
  const name = call.params.StackName ?? changeSets.get(call.params.ChangeSetName ?? '');
  if (name === undefined) throw new Error(`Cannot tell which stack ${call.operation} ${JSON.stringify(call.params)} is for.`);
  return name.startsWith('arn:') ? name : `arn:${partition(call)}:cloudformation:${call.region}:${account}:stack/${name}/00000000-0000-0000-0000-000000000000`;
}

/** The S3 object behind a TemplateURL (virtual-hosted, as the engine writes it). */
function templateObject(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname.split('.s3.')[0]}${decodeURIComponent(parsed.pathname)}`;
}

/**
 * What IAM checks for one call the deploy role makes, per AWS's Service Authorization Reference:
 * the action, the resource ARN and the condition keys the documented policies use. A call that
 * needs no permission (GetCallerIdentity) asks for nothing; an unknown one is an error.
 */
export function iamRequestsOf(call: WireCall, account: string, changeSets: ReadonlyMap<string, string>): IamRequest[] {
  const { service, operation, params } = call;
  if (service === 'sts' && operation === 'GetCallerIdentity') return [];
  if (service === 'cloudformation') {
    const requests: IamRequest[] = [{ action: `cloudformation:${operation}`, resource: stackArn(call, account, changeSets) }];
    // CloudFormation deploys with the service role the caller passes, and reads a TemplateURL as the caller.
    if (params.RoleARN !== undefined) requests.push({ action: 'iam:PassRole', resource: params.RoleARN, context: { 'iam:PassedToService': 'cloudformation.amazonaws.com' } });
    if (params.TemplateURL !== undefined) requests.push({ action: 's3:GetObject', resource: `arn:${partition(call)}:s3:::${templateObject(params.TemplateURL)}` });
    return requests;
  }
  if (service === 's3') {
    const object = `arn:${partition(call)}:s3:::${params.Bucket}/${params.Key}`;
    if (operation === 'HeadObject' || operation === 'GetObject') return [{ action: 's3:GetObject', resource: object }];
    if (operation === 'PutObject') return [{ action: 's3:PutObject', resource: object }];
    if (operation === 'ListObjectsV2') return [{ action: 's3:ListBucket', resource: `arn:${partition(call)}:s3:::${params.Bucket}`, context: { 's3:prefix': params.prefix ?? '' } }];
  }
  // GetAccountSettings has no resource type in the Service Authorization Reference: only "*" grants it.
  if (service === 'lambda' && operation === 'GetAccountSettings') return [{ action: 'lambda:GetAccountSettings', resource: '*' }];
  if (service === 'states') {
    const resource = params.mapRunArn ?? params.executionArn ?? params.stateMachineArn;
    if (resource !== undefined) return [{ action: `states:${operation}`, resource }];
  }
  throw new Error(`No IAM mapping for ${service} ${operation}.`);
}

/** Which stack each change set belongs to, from the CreateChangeSet calls and their answers. */
export function changeSetStacks(calls: readonly WireCall[]): Map<string, string> {
  const stacks = new Map<string, string>();
  for (const call of calls) {
    if (call.service !== 'cloudformation' || call.operation !== 'CreateChangeSet') continue;
    const id = /<Id>([^<]+)<\/Id>/.exec(call.response ?? '')?.[1];
    const stackId = /<StackId>([^<]+)<\/StackId>/.exec(call.response ?? '')?.[1];
    if (id !== undefined) stacks.set(id, stackId ?? call.params.StackName!);
  }
  return stacks;
}
