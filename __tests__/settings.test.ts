import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../src/errors.ts';
import { SETTING_NAMES, parseRunSettings } from '../src/settings.ts';
import { tempDir } from './helpers/corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const base: Record<string, string> = {
  input: 's3://logs-in/day/',
  output: 's3://results-out/day/',
  handler: path.join(root, 'examples/log-analytics/handler.ts'),
  engine: 'aws',
  region: 'eu-west-1',
  'stack-name': 'fanout-nightly',
};
const settings = (overrides: Record<string, string>) => parseRunSettings((name) => ({ ...base, ...overrides })[name]);

describe('settings for engine aws', () => {
  it('reads the stack, parameters, tags and prices', () => {
    const parsed = settings({ parameters: 'WorkerMemorySize: 3008\nWorkerTimeout: 600', tags: '{"team": "data", "cost-center": 42}', 'delete-stack': 'true', 'timeout-minutes': '90', capabilities: 'CAPABILITY_IAM, CAPABILITY_NAMED_IAM', 'max-concurrency': '20' });
    expect(parsed.parameters).toEqual({ WorkerMemorySize: '3008', WorkerTimeout: '600', MaxConcurrency: '20' });
    expect(parsed.aws).toEqual({
      region: 'eu-west-1',
      stackName: 'fanout-nightly',
      capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
      tags: { team: 'data', 'cost-center': '42' },
      deleteStack: true,
      timeoutMs: 90 * 60_000,
      prices: { lambdaGbSecond: 0.0000133334, lambdaPerMillionRequests: 0.2, perThousandStateTransitions: 0.025 },
    });
  });

  it.each([
    [{ parameters: 'Worker: [unclosed' }, 'parameters is neither JSON nor YAML'],
    [{ parameters: '- a\n- b' }, 'parameters must be a map of names to values'],
    [{ tags: '{"a": {"b": 1}}' }, 'tags: the value of a must be a string, number or boolean.'],
    [{ 'stack-name': '' }, 'stack-name is required for engine aws'],
    [{ 'stack-name': '9lives' }, 'stack-name "9lives" is not a stack name'],
    [{ region: 'mars-1' }, 'region "mars-1" is not an AWS region'],
    [{ capabilities: 'CAPABILITY_ALL' }, 'capabilities "CAPABILITY_ALL" is not one of CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND.'],
    [{ 'role-arn': 'admin' }, 'role-arn "admin" is not an IAM role ARN.'],
    [{ resume: 'arn:aws:states:us-east-1:123456789012:stateMachine:x' }, 'resume "arn:aws:states:us-east-1:123456789012:stateMachine:x" is not an execution ARN'],
    [{ 'delete-stack': 'maybe' }, 'delete-stack "maybe" must be true or false.'],
    [{ 'timeout-minutes': '0' }, 'timeout-minutes "0" must be a whole number'],
    [{ 'lambda-price-per-gb-second': '-1' }, 'lambda-price-per-gb-second "-1" must be a price in USD'],
    [{ 's3-endpoint': 'http://127.0.0.1:4568' }, 's3-endpoint is for engine local'],
    [{ 'tolerated-failure-percentage': '150' }, 'tolerated-failure-percentage "150" must be a number from 0 to 100.'],
  ])('rejects %j', (overrides, message) => {
    expect(() => settings(overrides)).toThrow(InputError);
    expect(() => settings(overrides)).toThrow(message);
  });

  it('refuses a stack name the names derived from it would cut, before any AWS call (B5)', () => {
    expect(() => settings({ 'stack-name': 'a'.repeat(32) })).toThrow(
      `stack-name "${'a'.repeat(32)}" is 32 characters, too long for the template: CloudFormation cuts the generated name of PartitionerFunction (AWS::Lambda::Function) to 64 characters, and the policies' "<stack-name>-*" patterns would stop matching it. Use at most 31 characters.`,
    );
    expect(settings({ 'stack-name': 'a'.repeat(31) }).aws?.stackName).toHaveLength(31);
  });

  it('measures a stack name against the template it deploys: a state machine named after it must fit in 80 characters (B5)', async () => {
    const template = path.join(await tempDir(), 'named.yaml');
    await writeFile(template, 'Resources:\n  Machine:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n      StateMachineName: !Sub ${AWS::StackName}-fanout\n');
    expect(() => settings({ template, 'stack-name': 'a'.repeat(74) })).toThrow('Machine\'s StateMachineName "${AWS::StackName}-fanout" must fit in 80 characters. Use at most 73 characters.');
    expect(settings({ template, 'stack-name': 'a'.repeat(73) }).aws?.stackName).toHaveLength(73);
  });

  it('accepts every partition’s regions, and refuses deleting a stack it is asked to protect', () => {
    for (const region of ['us-gov-west-1', 'cn-northwest-1', 'eusc-de-east-1', 'us-isob-east-1']) expect(settings({ region }).aws?.region).toBe(region);
    expect(() => settings({ 'delete-stack': 'true', 'termination-protection': 'true' })).toThrow('delete-stack true and termination-protection true contradict each other');
  });

  it('needs a region from the input or the environment', () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => settings({ region: '' })).toThrow('region is required for engine aws: set the region input, or aws-region in aws-actions/configure-aws-credentials.');
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });
});

describe('every input, given a bad value, is refused before anything runs, by name and with the fix', () => {
  const local: Record<string, string> = { input: 'examples/log-analytics/sample', output: 'out/x', handler: path.join(root, 'examples/log-analytics/handler.ts') };
  const rows: [string, Record<string, string>, string][] = [
    ['engine', { engine: 'spark' }, 'engine "spark" is not known: use local (this machine) or aws (a deployed stack).'],
    ['input', { input: 'gs://b/x' }, 'input "gs://b/x" uses the unsupported scheme "gs://": use s3://bucket/prefix or a local directory path.'],
    ['input', { input: '' }, 'input is required: give the data to process'],
    ['output', { output: 's3://B/x' }, 'output "s3://B/x" does not name a valid S3 bucket ("B")'],
    ['handler', { handler: '' }, 'handler is required: give the module with your processRecord or processPartition'],
    ['handler', { handler: 'missing.ts' }, 'handler "missing.ts" does not exist'],
    ['format', { format: 'parquet' }, 'format "parquet" is not supported: use one of lines, ndjson, csv.'],
    ['partitions', { partitions: '-1' }, 'partitions "-1" must be a whole number from 1 to 10000.'],
    ['partition-size', { 'partition-size': '64 parsecs' }, 'partition-size "64 parsecs" is not a size'],
    ['max-partitions', { 'max-partitions': '0' }, 'max-partitions "0" must be a whole number from 1 to 10000.'],
    ['max-rejected', { 'max-rejected': 'lots' }, 'max-rejected "lots" is not a limit: give a count of records (like 10) or a percentage (like 0.5%).'],
    ['allow-empty', { 'allow-empty': 'yes' }, 'allow-empty "yes" must be true or false.'],
    ['concurrency', { concurrency: '0' }, 'concurrency "0" must be a whole number from 1 to 1024.'],
    ['pass-env', { 'pass-env': 'HOME,2FA' }, 'pass-env "2FA" is not a variable name'],
    ['max-concurrency', { 'max-concurrency': '20000' }, 'max-concurrency "20000" must be a whole number from 0 to 10000.'],
    ['map-mode', { 'map-mode': 'parallel' }, 'map-mode "parallel" is not one of auto, inline, distributed.'],
    ['tolerated-failure-percentage', { 'tolerated-failure-percentage': 'ten' }, 'tolerated-failure-percentage "ten" must be a number from 0 to 100.'],
    ['template', { template: 'nope.yaml' }, 'template "nope.yaml" does not exist'],
    ['parameters', { parameters: '{"a": ' }, 'parameters is neither JSON nor YAML'],
    ['s3-endpoint', { 's3-endpoint': 'minio:9000' }, 's3-endpoint "minio:9000" is not a URL: give one like http://127.0.0.1:4568.'],
    ['region', { engine: 'aws', 'stack-name': 's', region: 'Ohio' }, 'region "Ohio" is not an AWS region, like us-east-1.'],
    ['stack-name', { engine: 'aws', region: 'us-east-1', 'stack-name': 'my_stack' }, 'stack-name "my_stack" is not a stack name'],
    ['artifact-bucket', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'artifact-bucket': 'Artifacts!' }, 'artifact-bucket "Artifacts!" is not a bucket name'],
    ['capabilities', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', capabilities: 'IAM' }, 'capabilities "IAM" is not one of'],
    ['tags', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', tags: '[1, 2]' }, 'tags must be a map of names to values, like {"team": "data"} or team: data.'],
    ['role-arn', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'role-arn': 'arn:aws:iam::1:user/x' }, 'role-arn "arn:aws:iam::1:user/x" is not an IAM role ARN.'],
    ['termination-protection', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'termination-protection': 'yes' }, 'termination-protection "yes" must be true or false.'],
    ['delete-stack', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'delete-stack': '1' }, 'delete-stack "1" must be true or false.'],
    ['timeout-minutes', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'timeout-minutes': '1.5' }, 'timeout-minutes "1.5" must be a whole number'],
    ['resume', { resume: 'previous-attempt' }, 'resume "previous-attempt" is for engine aws: locally, give the run-id of the run to resume'],
    ['resume', { resume: 'run with spaces' }, 'resume "run with spaces" is not a run id'],
    ['resume', { resume: '..' }, 'resume ".." is not a run id'],
    ['lambda-price-per-gb-second', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'lambda-price-per-gb-second': '$1' }, 'lambda-price-per-gb-second "$1" must be a price in USD'],
    ['lambda-price-per-million-requests', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'lambda-price-per-million-requests': 'free' }, 'lambda-price-per-million-requests "free" must be a price in USD'],
    ['price-per-thousand-state-transitions', { engine: 'aws', region: 'us-east-1', 'stack-name': 's', 'price-per-thousand-state-transitions': '-0.1' }, 'price-per-thousand-state-transitions "-0.1" must be a price in USD'],
    ['summary', { summary: 'examples' }, 'summary: examples is a directory: give a file name, like examples/summary.md.'],
    ['report', { report: 'examples' }, 'report: examples is a directory: give a file name, like examples/report.json.'],
    ['output', { output: 'package.json' }, `output: ${path.join(root, 'package.json')} is a file: give a directory for the results`],
    ['input', { input: 'examples/no-such-sample' }, `input: directory ${path.join(root, 'examples/no-such-sample')} does not exist`],
  ];

  it.each(rows)('%s %j', (name, overrides, message) => {
    const read = (input: string): string | undefined => ({ ...local, ...overrides })[input];
    expect(() => parseRunSettings(read)).toThrow(InputError);
    expect(() => parseRunSettings(read)).toThrow(message);
    expect(message.includes(name)).toBe(true);
  });

  it('covers every input that can be wrong', () => {
    const covered = new Set(rows.map(([name]) => name));
    expect(SETTING_NAMES.filter((name) => !covered.has(name))).toEqual([]);
  });
});
