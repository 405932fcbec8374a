import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, errorMessage } from '../errors.ts';
import { parseTemplateText } from './cfn-yaml.ts';

/** A Lambda function of the template, as the local engine runs it. */
export interface LocalFunction {
  readonly logicalId: string;
  /** `worker` for `Handler: worker.handler`: the module in lambdas/. */
  readonly module: string;
  readonly exportName: string;
  /** Like `nodejs24.x`: Lambda's AWS_EXECUTION_ENV names it. */
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly environment: Readonly<Record<string, string>>;
}

export interface LocalStateMachine {
  readonly definition: Record<string, unknown>;
  /** Keyed by the function ARN the resolved definition uses. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
}

/** A template shipped in template/: found from src/local/ in the sources, or from dist/ in the bundle. */
export function bundledTemplate(name: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, here.endsWith(`${path.sep}dist`) ? '../template' : '../../template', name);
}

/** The template the action deploys and the local engine runs by default. */
export function defaultTemplatePath(): string {
  return bundledTemplate('sfn-fanout.yaml');
}

type Template = {
  Parameters?: Record<string, { Default?: unknown; Type?: string }>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
};

const LOCAL_ACCOUNT = '000000000000';
const LOCAL_REGION = 'local';

/**
 * Reads a template and resolves its one state machine: `DefinitionSubstitutions`, `!Ref` to
 * parameters (defaults, or the given values) and `!GetAtt Function.Arn` become concrete values, so
 * the definition is exactly what AWS would run, with local ARNs for the functions.
 */
export async function loadStateMachine(templatePath: string, parameters: Readonly<Record<string, string>> = {}): Promise<LocalStateMachine> {
  let template: Template;
  try {
    template = parseTemplateText(await readFile(templatePath, 'utf8')) as Template;
  } catch (error) {
    throw new InputError(`Template ${templatePath} cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  const resources = template?.Resources ?? {};
  const machines = Object.entries(resources).filter(([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) {
    throw new InputError(`Template ${templatePath} has ${machines.length} AWS::StepFunctions::StateMachine resources: the local engine needs exactly one.`);
  }
  const [machineId, machine] = machines[0]!;
  const resolver = new Resolver(template, parameters, templatePath);
  const properties = machine.Properties ?? {};
  const substitutions = Object.fromEntries(
    Object.entries((properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>).map(([name, value]) => [name, String(resolver.resolve(value, `${machineId}.DefinitionSubstitutions.${name}`))]),
  );
  const written = properties.Definition ?? (typeof properties.DefinitionString === 'string' ? JSON.parse(properties.DefinitionString) : undefined);
  if (written === undefined) {
    throw new InputError(`State machine ${machineId} has no Definition (or literal DefinitionString): the local engine reads the definition from the template.`);
  }
  const definition = substitute(resolver.resolveDeep(written, `${machineId}.Definition`), substitutions, machineId) as Record<string, unknown>;

  const functions = new Map<string, LocalFunction>();
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const props = resource.Properties ?? {};
    const handler = String(resolver.resolve(props.Handler, `${logicalId}.Handler`));
    const dot = handler.lastIndexOf('.');
    const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    functions.set(functionArn(logicalId), {
      logicalId,
      module: handler.slice(0, dot),
      exportName: handler.slice(dot + 1),
      runtime: String(resolver.resolve(props.Runtime ?? 'nodejs24.x', `${logicalId}.Runtime`)),
      timeoutSeconds: Number(resolver.resolve(props.Timeout ?? 3, `${logicalId}.Timeout`)),
      memoryMb: Number(resolver.resolve(props.MemorySize ?? 128, `${logicalId}.MemorySize`)),
      environment: Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, String(resolver.resolve(value, `${logicalId}.Environment.${name}`))])),
    });
  }
  return { definition, functions };
}

export function functionArn(logicalId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;
}

const NO_VALUE = Symbol('AWS::NoValue');

/** The intrinsic functions a state machine definition, its substitutions and its functions' settings use. */
class Resolver {
  readonly #template: Template;
  readonly #parameters: Readonly<Record<string, string>>;
  readonly #file: string;
  readonly #conditions = new Map<string, boolean>();

  constructor(template: Template, parameters: Readonly<Record<string, string>>, file: string) {
    this.#template = template;
    this.#parameters = parameters;
    this.#file = file;
  }

  /** Resolves `Fn::If` (dropping `AWS::NoValue`) and `Ref` anywhere in a JSON value, as CloudFormation does. */
  resolveDeep(value: unknown, where: string): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolveDeep(item, where)).filter((item) => item !== NO_VALUE);
    if (typeof value !== 'object' || value === null) return value;
    const node = value as Record<string, unknown>;
    const keys = Object.keys(node);
    if (keys.length === 1 && keys[0] === 'Fn::If') {
      const [condition, whenTrue, whenFalse] = node['Fn::If'] as [string, unknown, unknown];
      return this.resolveDeep(this.condition(condition, where) ? whenTrue : whenFalse, where);
    }
    if (keys.length === 1 && keys[0] === 'Ref') return node.Ref === 'AWS::NoValue' ? NO_VALUE : this.resolve(node, where);
    if (keys.length === 1 && keys[0]!.startsWith('Fn::')) return this.resolve(node, where);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node)) {
      const resolved = this.resolveDeep(item, `${where}.${key}`);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  condition(name: string, where: string): boolean {
    const known = this.#conditions.get(name);
    if (known !== undefined) return known;
    const expression = this.#template.Conditions?.[name];
    if (expression === undefined) throw new InputError(`${this.#file}: ${where} uses condition ${name}, which the template does not define.`);
    const value = this.#evaluate(expression, `Conditions.${name}`);
    this.#conditions.set(name, value);
    return value;
  }

  #evaluate(expression: unknown, where: string): boolean {
    const node = (expression ?? {}) as Record<string, unknown[]> & { Condition?: string };
    if (typeof node.Condition === 'string') return this.condition(node.Condition, where);
    if (Array.isArray(node['Fn::Equals'])) {
      const [a, b] = node['Fn::Equals'].map((side) => String(this.resolveDeep(side, where)));
      return a === b;
    }
    if (Array.isArray(node['Fn::Not'])) return !this.#evaluate(node['Fn::Not'][0], where);
    if (Array.isArray(node['Fn::And'])) return node['Fn::And'].every((item) => this.#evaluate(item, where));
    if (Array.isArray(node['Fn::Or'])) return node['Fn::Or'].some((item) => this.#evaluate(item, where));
    throw new InputError(`${this.#file}: ${where} is ${JSON.stringify(expression)}, a condition the local engine cannot evaluate (use Fn::Equals, Fn::Not, Fn::And, Fn::Or).`);
  }

  resolve(value: unknown, where: string): unknown {
    if (typeof value !== 'object' || value === null) return value;
    const node = value as Record<string, unknown>;
    if (typeof node.Ref === 'string') return this.#ref(node.Ref, where);
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt) && getAtt[1] === 'Arn' && this.#template.Resources?.[String(getAtt[0])]?.Type === 'AWS::Lambda::Function') {
      return functionArn(String(getAtt[0]));
    }
    const sub = node['Fn::Sub'];
    if (typeof sub === 'string') return sub.replace(/\$\{([^}!]+)\}/g, (_, name: string) => String(this.#ref(name, where)));
    throw new InputError(`${this.#file}: ${where} uses ${JSON.stringify(value)}, which the local engine cannot resolve. Use a literal, !Ref to a parameter, or !GetAtt <Function>.Arn.`);
  }

  #ref(name: string, where: string): unknown {
    if (name in this.#parameters) return this.#parameters[name];
    const parameter = this.#template.Parameters?.[name];
    if (parameter !== undefined) {
      if (parameter.Default === undefined) {
        throw new InputError(`${this.#file}: ${where} needs parameter ${name}, which has no Default: give it a value.`);
      }
      return parameter.Default;
    }
    if (name === 'AWS::StackName') return 'sfn-fanout-local';
    if (name === 'AWS::Region') return LOCAL_REGION;
    if (name === 'AWS::AccountId') return LOCAL_ACCOUNT;
    if (name === 'AWS::Partition') return 'aws';
    const resource = this.#template.Resources?.[name];
    if (resource !== undefined) return name;
    throw new InputError(`${this.#file}: ${where} refers to "${name}", which is neither a parameter nor a resource.`);
  }
}

function substitute(value: unknown, substitutions: Readonly<Record<string, string>>, machineId: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_match, name: string) => {
      if (!(name in substitutions)) {
        throw new InputError(`State machine ${machineId} uses \${${name}}, which is not in its DefinitionSubstitutions.`);
      }
      return substitutions[name]!;
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, substitutions, machineId));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, substitutions, machineId)]));
  }
  return value;
}
