import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { InputError } from './errors.ts';
import { JOB_OPTION_NAMES, parseJob, type Job, type JobRequest } from './job.ts';
import type { S3Settings } from './store/open-store.ts';

/**
 * Every setting of a run, validated once. The CLI (`--name`) and the action (`name:` input)
 * share these names, so one parser serves both and its errors read the same.
 */
export interface RunSettings {
  readonly engine: 'local';
  readonly job: Job;
  readonly handler: string;
  readonly template?: string;
  /** Template parameters the run sets (MaxConcurrency, ToleratedFailurePercentage). */
  readonly parameters: Readonly<Record<string, string>>;
  readonly concurrency: number;
  readonly s3: S3Settings;
  readonly summary?: string;
  readonly report?: string;
}

/** Reads one setting by its option name; undefined or empty when not given. */
export type ReadSetting = (name: string) => string | undefined;

export const SETTING_NAMES = [
  'engine',
  ...Object.values(JOB_OPTION_NAMES),
  'handler',
  'template',
  'concurrency',
  'max-concurrency',
  'tolerated-failure-percentage',
  's3-endpoint',
  'region',
  'summary',
  'report',
] as const;

export function parseRunSettings(read: ReadSetting): RunSettings {
  const value = (name: string): string | undefined => {
    const text = read(name)?.trim();
    return text === undefined || text === '' ? undefined : text;
  };
  const engine = value('engine') ?? 'local';
  if (engine !== 'local') {
    throw new InputError(`engine "${engine}" is not available in this version: use engine local (the AWS engine is on the way).`);
  }
  const request: JobRequest = Object.fromEntries(Object.entries(JOB_OPTION_NAMES).map(([field, name]) => [field, value(name)]));
  const job = parseJob(request);
  const handler = value('handler');
  if (handler === undefined) {
    throw new InputError('handler is required: give the module with your processRecord or processPartition, like examples/log-analytics/handler.ts.');
  }
  if (!existsSync(handler)) throw new InputError(`handler "${handler}" does not exist (looked in ${path.resolve(handler)}).`);
  const template = value('template');
  if (template !== undefined && !existsSync(template)) throw new InputError(`template "${template}" does not exist (looked in ${path.resolve(template)}).`);
  const parameters: Record<string, string> = {};
  const maxConcurrency = wholeNumber(value('max-concurrency'), 'max-concurrency', 0, 40);
  if (maxConcurrency !== undefined) parameters.MaxConcurrency = String(maxConcurrency);
  const tolerated = value('tolerated-failure-percentage');
  if (tolerated !== undefined) {
    const percent = Number(tolerated);
    if (!/^\d+(\.\d+)?$/.test(tolerated) || percent > 100) {
      throw new InputError(`tolerated-failure-percentage "${tolerated}" must be a number from 0 to 100.`);
    }
    parameters.ToleratedFailurePercentage = tolerated;
  }
  const endpoint = value('s3-endpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new InputError(`s3-endpoint "${endpoint}" is not a URL: give one like http://127.0.0.1:4568.`);
  }
  const summary = value('summary');
  const report = value('report');
  return {
    engine,
    job,
    handler,
    ...(template === undefined ? {} : { template }),
    parameters,
    concurrency: wholeNumber(value('concurrency'), 'concurrency', 1, 1024) ?? availableParallelism(),
    s3: { endpoint, region: value('region') },
    ...(summary === undefined ? {} : { summary }),
    ...(report === undefined ? {} : { report }),
  };
}

function wholeNumber(text: string | undefined, name: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < min || number > max) {
    throw new InputError(`${name} "${text}" must be a whole number from ${min} to ${max}.`);
  }
  return number;
}
