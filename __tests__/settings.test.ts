import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../src/errors.ts';
import { parseRunSettings } from '../src/settings.ts';

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
    [{ redrive: 'yes' }, 'redrive "yes" must be previous-attempt or the ARN of an execution to redrive.'],
    [{ 'delete-stack': 'maybe' }, 'delete-stack "maybe" must be true or false.'],
    [{ 'timeout-minutes': '0' }, 'timeout-minutes "0" must be a whole number'],
    [{ 'lambda-price-per-gb-second': '-1' }, 'lambda-price-per-gb-second "-1" must be a price in USD'],
    [{ 's3-endpoint': 'http://127.0.0.1:4568' }, 's3-endpoint is for engine local'],
    [{ 'tolerated-failure-percentage': '150' }, 'tolerated-failure-percentage "150" must be a number from 0 to 100.'],
  ])('rejects %j', (overrides, message) => {
    expect(() => settings(overrides)).toThrow(InputError);
    expect(() => settings(overrides)).toThrow(message);
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
