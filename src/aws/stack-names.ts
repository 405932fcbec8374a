import { InputError } from '../errors.ts';
import { parseTemplateText } from '../local/cfn-yaml.ts';

/** Name limits of the resources whose names derive from the stack name. */
const NAMED: Readonly<Record<string, { readonly property: string; readonly limit: number }>> = {
  'AWS::StepFunctions::StateMachine': { property: 'StateMachineName', limit: 80 },
  'AWS::Logs::LogGroup': { property: 'LogGroupName', limit: 512 },
  'AWS::IAM::Role': { property: 'RoleName', limit: 64 },
  'AWS::Lambda::Function': { property: 'FunctionName', limit: 64 },
};

/**
 * A resource without an explicit name gets `<stack>-<logical id>-<12 random characters>` from
 * CloudFormation; past the type's limit, 13 characters are kept for the random tail and its hyphen
 * and the rest is split between the stack name and the logical id, the stack's half rounding up.
 * AWS does not document the rule; it is inferred from names CloudFormation produced. A policy
 * pattern like `role/${StackName}-*` only matches while the whole stack name survives.
 */
export function longestWholeStackName(limit: number, logicalId: string): number {
  const room = limit - 13 - 1;
  return Math.max(Math.ceil(room / 2), room - logicalId.length);
}

/** The stack that holds the shared artifact bucket, one per account and region. */
export const BOOTSTRAP_STACK = 'sfn-fanout-bootstrap';

interface Resource {
  readonly Type?: string;
  readonly Properties?: Record<string, unknown>;
}

/**
 * Refuses the bootstrap stack's name, and a stack name whose derived names would break (too long for a limit, or cut so the
 * documented policies stop matching them), before any AWS call, and says how long it may be.
 */
export function checkStackName(stackName: string, templateText: string): void {
  // A fan-out deployed under this name would replace the bucket every other stack of the account uses.
  if (stackName.toLowerCase() === BOOTSTRAP_STACK) {
    throw new InputError(`stack-name "${stackName}" is the name of sfn-fanout's bootstrap stack, which holds the artifact bucket of every sfn-fanout stack in the account and region: choose another name.`);
  }
  const resources = Object.entries(((parseTemplateText(templateText) ?? {}) as { Resources?: Record<string, Resource> }).Resources ?? {});
  let longest = Number.POSITIVE_INFINITY;
  let reason = '';
  const limitTo = (max: number, why: string) => {
    if (max < longest) [longest, reason] = [max, why];
  };
  for (const [logicalId, resource] of resources) {
    const named = NAMED[resource.Type ?? ''];
    if (named === undefined) continue;
    const name = resource.Properties?.[named.property];
    if (name === undefined && (resource.Type === 'AWS::IAM::Role' || resource.Type === 'AWS::Lambda::Function')) {
      limitTo(longestWholeStackName(named.limit, logicalId), `CloudFormation cuts the generated name of ${logicalId} (${resource.Type}) to ${named.limit} characters, and the policies' "<stack-name>-*" patterns would stop matching it`);
      continue;
    }
    const pattern = typeof name === 'string' ? name : (name as { 'Fn::Sub'?: unknown } | undefined)?.['Fn::Sub'];
    if (typeof pattern !== 'string' || !pattern.includes('${AWS::StackName}')) continue;
    // Other ${...} references count as empty: the check can only under-estimate the length.
    const fixed = pattern.replaceAll('${AWS::StackName}', '').replace(/\$\{[^}]*\}/g, '').length;
    const uses = pattern.split('${AWS::StackName}').length - 1;
    limitTo(Math.floor((named.limit - fixed) / uses), `${logicalId}'s ${named.property} "${pattern}" must fit in ${named.limit} characters`);
  }
  if (stackName.length > longest) {
    throw new InputError(`stack-name "${stackName}" is ${stackName.length} characters, too long for the template: ${reason}. Use at most ${longest} characters.`);
  }
}
