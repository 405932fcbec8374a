import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { checkStackName } from './aws/stack-names.ts';
import { InputError } from './errors.ts';
import { defaultTemplatePath } from './local/template-definition.ts';
import { JOB_OPTION_NAMES, parseJob, parseRunId, readJobRequest, type Job } from './job.ts';
import { parseInputLocation, parseLocation } from './location.ts';
import { parse as parseYaml } from 'yaml';
import type { MapModeRequest } from './plan/map-mode.ts';
import { DEFAULT_PRICES, type Prices } from './report/cost.ts';
import type { S3Settings } from './store/open-store.ts';
import { RESERVED_VARIABLES } from './local/lambda-environment.ts';
import { parseTemplateText } from './local/cfn-yaml.ts';
import { isNoEcho } from './local/template-parameters.ts';

/**
 * Every setting of a run, validated once. The CLI (`--name`) and the action (`name:` input)
 * share these names, so one parser serves both and its errors read the same.
 */
/** What only the AWS engine needs. */
export interface AwsSettings {
  readonly region: string;
  readonly stackName: string;
  readonly artifactBucket?: string;
  readonly capabilities: readonly ('CAPABILITY_IAM' | 'CAPABILITY_NAMED_IAM' | 'CAPABILITY_AUTO_EXPAND')[];
  readonly tags: Readonly<Record<string, string>>;
  readonly roleArn?: string;
  readonly terminationProtection?: boolean;
  readonly deleteStack: boolean;
  readonly timeoutMs?: number;
  readonly prices: Prices;
}

export interface RunSettings {
  readonly engine: 'local' | 'aws';
  /** Inline or Distributed Map; `auto` decides from the plan (the MapMode parameter overrides it). */
  readonly mapMode: MapModeRequest;
  /** Set when engine is aws. */
  readonly aws?: AwsSettings;
  readonly job: Job;
  readonly handler: string;
  /**
   * The run to resume instead of starting afresh: its run id, or for engine aws `previous-attempt`
   * (this step's execution in the workflow's previous run attempt) or an execution ARN.
   */
  readonly resume?: string;
  readonly template?: string;
  /** Template parameters the run sets (MaxConcurrency, ToleratedFailurePercentage). */
  readonly parameters: Readonly<Record<string, string>>;
  readonly concurrency: number;
  /** Names of variables the local Lambdas get from this environment, on purpose; they get no others. */
  readonly passEnv: readonly string[];
  readonly s3: S3Settings;
  readonly summary?: string;
  readonly report?: string;
  /** Values the settings know to be secret, whatever their names: NoEcho parameters, the S3 endpoint's password as written and decoded. */
  readonly secretValues?: readonly string[];
}

/** Reads one setting by its option name; undefined or empty when not given. */
export type ReadSetting = (name: string) => string | undefined;

export const SETTING_NAMES = [
  'engine',
  'map-mode',
  ...Object.values(JOB_OPTION_NAMES),
  'handler',
  'template',
  'concurrency',
  'pass-env',
  'max-concurrency',
  'tolerated-failure-percentage',
  'parameters',
  's3-endpoint',
  'region',
  'summary',
  'report',
  'stack-name',
  'artifact-bucket',
  'capabilities',
  'tags',
  'role-arn',
  'termination-protection',
  'delete-stack',
  'timeout-minutes',
  'resume',
  'lambda-price-per-gb-second',
  'lambda-price-per-million-requests',
  'price-per-thousand-state-transitions',
] as const;

const CAPABILITIES = ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'] as const;

export function parseRunSettings(read: ReadSetting): RunSettings {
  const value = (name: string): string | undefined => {
    const text = read(name)?.trim();
    return text === undefined || text === '' ? undefined : text;
  };
  const engine = value('engine') ?? 'local';
  if (engine !== 'local' && engine !== 'aws') {
    throw new InputError(`engine "${engine}" is not known: use local (this machine) or aws (a deployed stack).`);
  }
  const job = parseJob(readJobRequest(value));
  const handler = value('handler');
  if (handler === undefined) {
    throw new InputError('handler is required: give the module with your processRecord or processPartition, like examples/log-analytics/handler.ts.');
  }
  if (!existsSync(handler)) throw new InputError(`handler "${handler}" does not exist (looked in ${path.resolve(handler)}).`);
  const template = value('template');
  if (template !== undefined && !existsSync(template)) throw new InputError(`template "${template}" does not exist (looked in ${path.resolve(template)}).`);
  const parameters: Record<string, string> = { ...stringMap(value('parameters'), 'parameters') };
  const maxConcurrency = wholeNumber(value('max-concurrency'), 'max-concurrency', 0, 10_000);
  if (maxConcurrency !== undefined) parameters.MaxConcurrency = String(maxConcurrency);
  const tolerated = value('tolerated-failure-percentage');
  if (tolerated !== undefined) {
    const percent = Number(tolerated);
    if (!/^\d+(\.\d+)?$/.test(tolerated) || percent > 100) {
      throw new InputError(`tolerated-failure-percentage "${tolerated}" must be a number from 0 to 100.`);
    }
    parameters.ToleratedFailurePercentage = tolerated;
  }
  const endpoint = parseEndpoint(value('s3-endpoint'));
  const summary = value('summary');
  const report = value('report');
  checkLocalPaths({ input: job.input, output: job.output, summary, report });
  const mapMode = value('map-mode') ?? 'auto';
  if (mapMode !== 'auto' && mapMode !== 'inline' && mapMode !== 'distributed') {
    throw new InputError(`map-mode "${mapMode}" is not one of auto, inline, distributed.`);
  }
  const resume = parseResume(value('resume'), engine);
  const passEnv = parsePassEnv(value('pass-env'));
  if (engine === 'aws' && passEnv.length > 0) {
    throw new InputError('pass-env is for engine local: in AWS a function sees only the Environment its template gives it.');
  }
  return {
    engine,
    mapMode,
    ...(engine === 'aws' ? { aws: parseAwsSettings(value, endpoint?.url, template) } : {}),
    job,
    handler,
    ...(resume === undefined ? {} : { resume }),
    ...(template === undefined ? {} : { template }),
    parameters,
    concurrency: wholeNumber(value('concurrency'), 'concurrency', 1, 1024) ?? availableParallelism(),
    passEnv,
    s3: { endpoint: endpoint?.url, region: value('region') },
    ...(summary === undefined ? {} : { summary }),
    ...(report === undefined ? {} : { report }),
    secretValues: [...(endpoint?.password ?? []), ...noEchoValues(template ?? defaultTemplatePath(), parameters)],
  };
}

/**
 * An S3-compatible endpoint, checked once: its URL without user information (the SDK signs its
 * requests with the credentials and ignores a URL's user and password, so nothing needs them),
 * and the password, as written and decoded, to redact. No message shows the user information.
 */
function parseEndpoint(text: string | undefined): { url: string; password: string[] } | undefined {
  if (text === undefined) return undefined;
  const userinfo = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)@/.exec(text)?.[1];
  const password = userinfo === undefined || !userinfo.includes(':') ? '' : userinfo.slice(userinfo.indexOf(':') + 1);
  // Whatever stands before an `@` ahead of the host is user information, with a scheme or without.
  const shown = text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/?#\s]*@/, '$1***@');
  let url: URL;
  let decoded: string;
  try {
    url = new URL(text);
    decoded = decodeURIComponent(password);
  } catch {
    throw new InputError(
      `s3-endpoint "${shown}" is not a URL: give one like http://127.0.0.1:4568${password === '' ? '' : ' (write a /, @, : or % in the password as %2F, %40, %3A or %25)'}.`,
    );
  }
  if (!/^https?:\/\/[^\s/]+/.test(text) || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const problem = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? 'is not an http or https URL' : 'is not a URL';
    throw new InputError(`s3-endpoint "${shown}" ${problem}: give one like http://127.0.0.1:4568.`);
  }
  url.username = '';
  url.password = '';
  return { url: url.href.replace(/\/$/, text.endsWith('/') ? '/' : ''), password: password === '' ? [] : [password, decoded] };
}

/** The values given to parameters the template declares NoEcho: CloudFormation's own mark of a secret. */
function noEchoValues(templatePath: string, parameters: Readonly<Record<string, string>>): string[] {
  let declared: Record<string, { NoEcho?: unknown }>;
  try {
    declared = (parseTemplateText(readFileSync(templatePath, 'utf8')) as { Parameters?: Record<string, { NoEcho?: unknown }> } | null)?.Parameters ?? {};
  } catch {
    // An unreadable template is refused before any work, by the parameter check.
    return [];
  }
  return Object.entries(parameters)
    .filter(([name, value]) => value !== '' && isNoEcho(declared[name]?.NoEcho))
    .map(([, value]) => value);
}

function parseAwsSettings(value: (name: string) => string | undefined, endpoint: string | undefined, template: string | undefined): AwsSettings {
  if (endpoint !== undefined) throw new InputError('s3-endpoint is for engine local: the AWS engine uses S3 itself.');
  const region = value('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region === undefined) throw new InputError('region is required for engine aws: set the region input, or aws-region in aws-actions/configure-aws-credentials.');
  if (!/^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/.test(region)) throw new InputError(`region "${region}" is not an AWS region, like us-east-1.`);
  const stackName = value('stack-name');
  if (stackName === undefined || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    throw new InputError(`stack-name ${stackName === undefined ? 'is required for engine aws' : `"${stackName}" is not a stack name`}: letters, digits and hyphens, starting with a letter, up to 128 characters.`);
  }
  // The names derived from it (state machine, generated role and function names) must fit too.
  checkStackName(stackName, readFileSync(template ?? defaultTemplatePath(), 'utf8'));
  const capabilities = (value('capabilities') ?? 'CAPABILITY_IAM').split(/[\s,]+/).filter(Boolean);
  for (const capability of capabilities) {
    if (!(CAPABILITIES as readonly string[]).includes(capability)) throw new InputError(`capabilities "${capability}" is not one of ${CAPABILITIES.join(', ')}.`);
  }
  const roleArn = value('role-arn');
  if (roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(roleArn)) throw new InputError(`role-arn "${roleArn}" is not an IAM role ARN.`);
  const timeoutMinutes = wholeNumber(value('timeout-minutes'), 'timeout-minutes', 1, 60 * 24 * 365);
  const terminationProtection = optionalBoolean(value('termination-protection'), 'termination-protection');
  const deleteStack = optionalBoolean(value('delete-stack'), 'delete-stack') ?? false;
  if (deleteStack && terminationProtection === true) {
    throw new InputError('delete-stack true and termination-protection true contradict each other: CloudFormation refuses to delete a protected stack. Choose one.');
  }
  const artifactBucket = value('artifact-bucket');
  if (artifactBucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(artifactBucket)) {
    throw new InputError(`artifact-bucket "${artifactBucket}" is not a bucket name: 3-63 lowercase letters, digits, dots and hyphens.`);
  }
  return {
    region,
    stackName,
    ...(artifactBucket === undefined ? {} : { artifactBucket }),
    capabilities: capabilities as AwsSettings['capabilities'],
    tags: stringMap(value('tags'), 'tags'),
    ...(roleArn === undefined ? {} : { roleArn }),
    ...(terminationProtection === undefined ? {} : { terminationProtection }),
    deleteStack,
    ...(timeoutMinutes === undefined ? {} : { timeoutMs: timeoutMinutes * 60_000 }),
    prices: {
      lambdaGbSecond: price(value('lambda-price-per-gb-second'), 'lambda-price-per-gb-second') ?? DEFAULT_PRICES.lambdaGbSecond,
      lambdaPerMillionRequests: price(value('lambda-price-per-million-requests'), 'lambda-price-per-million-requests') ?? DEFAULT_PRICES.lambdaPerMillionRequests,
      perThousandStateTransitions: price(value('price-per-thousand-state-transitions'), 'price-per-thousand-state-transitions') ?? DEFAULT_PRICES.perThousandStateTransitions,
    },
  };
}

/**
 * The local paths of a run, checked before any work: the input exists, the output directory is
 * not a file, and the summary and report files are not directories.
 */
export function checkLocalPaths(paths: { input?: string; output?: string; summary?: string | undefined; report?: string | undefined }): void {
  const input = paths.input === undefined ? undefined : parseInputLocation(paths.input);
  if (input?.kind === 'dir' && !existsSync(input.uri)) {
    throw new InputError(`input: directory ${input.uri} does not exist: give the folder or file that holds the data (relative paths start from ${process.cwd()}).`);
  }
  const output = paths.output === undefined ? undefined : parseLocation(paths.output, 'output');
  if (output?.kind === 'dir' && statSync(output.path, { throwIfNoEntry: false })?.isFile() === true) {
    throw new InputError(`output: ${output.path} is a file: give a directory for the results (it is created when missing).`);
  }
  for (const [name, file] of [['summary', paths.summary], ['report', paths.report]] as const) {
    if (file !== undefined && statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
      throw new InputError(`${name}: ${file} is a directory: give a file name, like ${path.join(file, `${name === 'summary' ? 'summary.md' : 'report.json'}`)}.`);
    }
  }
  for (const [name, target] of [['output', output?.kind === 'dir' ? output.path : undefined], ['summary', paths.summary], ['report', paths.report]] as const) {
    const blocking = target === undefined ? undefined : fileAbove(target);
    if (blocking !== undefined) throw new InputError(`${name}: ${target} cannot be created: ${blocking} is a file, not a directory. Give a path under a directory.`);
  }
}

/** The nearest existing folder above a path, when it is a file instead: nothing can be created under it. */
function fileAbove(target: string): string | undefined {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (stat !== undefined) return stat.isDirectory() ? undefined : dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** A run id; for engine aws also previous-attempt or an execution ARN, which the engine turns into the run id. */
function parseResume(text: string | undefined, engine: 'local' | 'aws'): string | undefined {
  if (text === undefined) return undefined;
  const awsOnly = text === 'previous-attempt' || text.startsWith('arn:');
  if (awsOnly && engine !== 'aws') {
    throw new InputError(`resume "${text}" is for engine aws: locally, give the run-id of the run to resume (its report and summary show it).`);
  }
  if (text.startsWith('arn:') && !/^arn:aws[a-z-]*:states:[^:]+:\d{12}:execution:[^:]+:[^:]+$/.test(text)) {
    throw new InputError(`resume "${text}" is not an execution ARN, like arn:aws:states:us-east-1:123456789012:execution:fanout-fanout:name.`);
  }
  return awsOnly ? text : parseRunId(text, 'resume');
}

/** Variable names, separated by commas, spaces or new lines. */
function parsePassEnv(text: string | undefined): string[] {
  const names = [...new Set((text ?? '').split(/[\s,]+/).filter(Boolean))];
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InputError(`pass-env "${name}" is not a variable name: letters, digits and underscores, not starting with a digit.`);
    if ((RESERVED_VARIABLES as readonly string[]).includes(name)) {
      throw new InputError(`pass-env names ${name}, which the local engine sets itself as Lambda does (region and S3 credentials come from the run's settings).`);
    }
  }
  return names;
}

const MAP_EXAMPLES: Readonly<Record<string, string>> = {
  parameters: '{"WorkerMemorySize": "3008"} or WorkerMemorySize: 3008',
  tags: '{"team": "data"} or team: data',
};

/** A YAML or JSON map of names to scalar values (`Key: value` lines, or `{"Key": "value"}`). */
function stringMap(text: string | undefined, name: string): Record<string, string> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new InputError(`${name} is neither JSON nor YAML: ${(error as Error).message.split('\n')[0]}. Give a map like ${MAP_EXAMPLES[name] ?? MAP_EXAMPLES.parameters}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InputError(`${name} must be a map of names to values, like ${MAP_EXAMPLES[name] ?? MAP_EXAMPLES.parameters}.`);
  }
  return Object.fromEntries(
    Object.entries(parsed).map(([key, item]) => {
      if (typeof item === 'object' && item !== null) throw new InputError(`${name}: the value of ${key} must be a string, number or boolean.`);
      return [key, String(item)];
    }),
  );
}

function optionalBoolean(text: string | undefined, name: string): boolean | undefined {
  if (text === undefined) return undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  throw new InputError(`${name} "${text}" must be true or false.`);
}

function price(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new InputError(`${name} "${text}" must be a price in USD, like 0.0000133334.`);
  return Number(text);
}

function wholeNumber(text: string | undefined, name: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < min || number > max) {
    throw new InputError(`${name} "${text}" must be a whole number from ${min} to ${max}.`);
  }
  return number;
}
