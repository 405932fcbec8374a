import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.ts';
import { parseInputLocation, parseLocation, type Location } from './location.ts';
import type { PlanSizing } from './plan/partition-plan.ts';
import { RECORD_FORMATS, type RecordFormat } from './records/formats.ts';

/** A partition fails when it rejects more records than this. */
export type RejectLimit = { readonly count: number } | { readonly percent: number };

/** One batch job, validated. Travels as the state machine's execution input. */
export interface Job {
  readonly input: string;
  readonly output: string;
  readonly format: RecordFormat;
  readonly sizing: PlanSizing;
  readonly maxPartitions: number;
  readonly maxRejected: RejectLimit;
  /** An input with no data is refused unless this is set; then the batch succeeds with nothing to do. */
  readonly allowEmpty: boolean;
  /**
   * The run this one resumes (its run id, the execution name): only the partitions that failed
   * there run again, and the others' committed results are counted as they are.
   */
  readonly resume?: string;
}

/** The user-facing name of each job field: the action input and the CLI option (`--name`). */
export const JOB_OPTION_NAMES = {
  input: 'input',
  output: 'output',
  format: 'format',
  partitions: 'partitions',
  partitionSize: 'partition-size',
  maxPartitions: 'max-partitions',
  maxRejected: 'max-rejected',
  allowEmpty: 'allow-empty',
} as const;

/** What an execution takes as input: the job options, and the run it resumes (set by the engine from the run's `resume` setting). */
export type JobRequest = { readonly [K in keyof typeof JOB_OPTION_NAMES]?: unknown } & { readonly resume?: unknown };

/** A job request from options read by their user-facing names (CLI options, action inputs). */
export function readJobRequest(read: (name: string) => string | undefined): JobRequest {
  return Object.fromEntries(Object.entries(JOB_OPTION_NAMES).map(([field, name]) => [field, read(name)]));
}

export const DEFAULT_PARTITION_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_PARTITIONS = 1000;
/** Distributed Map's ceiling of parallel children; larger plans are a mistake, not a batch. */
export const PARTITION_LIMIT = 10_000;

/**
 * Validates a job request from any edge (CLI strings, action inputs, an execution's JSON input).
 * Values may be strings or numbers; every error names the option and says how to fix it.
 * `outputUnused` is for planning, which writes nothing: its output is not checked against the input.
 */
export function parseJob(request: JobRequest, { outputUnused = false }: { outputUnused?: boolean } = {}): Job {
  const input = requiredText(request.input, 'input');
  const output = requiredText(request.output, 'output');
  // Parsed for validation only: the job keeps the URIs as the user wrote them.
  const inputLocation = parseInputLocation(input, JOB_OPTION_NAMES.input);
  const outputLocation = parseLocation(output, JOB_OPTION_NAMES.output);
  if (!outputUnused) refuseOverlap(inputLocation, outputLocation);
  const format = optionalText(request.format, 'format') ?? 'ndjson';
  if (!(RECORD_FORMATS as readonly string[]).includes(format)) {
    throw new InputError(`format "${format}" is not supported: use one of ${RECORD_FORMATS.join(', ')}.`);
  }
  const maxPartitions = optionalInteger(request.maxPartitions, 'maxPartitions', 1, PARTITION_LIMIT) ?? DEFAULT_MAX_PARTITIONS;
  const partitions = optionalInteger(request.partitions, 'partitions', 1, PARTITION_LIMIT);
  const partitionSize = optionalText(request.partitionSize, 'partitionSize');
  if (partitions !== undefined && partitionSize !== undefined) {
    throw new InputError('partitions and partition-size are both set: give one (a count, or a target size per partition).');
  }
  if (partitions !== undefined && partitions > maxPartitions) {
    throw new InputError(`partitions is ${partitions} but max-partitions is ${maxPartitions}: lower partitions or raise max-partitions.`);
  }
  const sizing: PlanSizing =
    partitions !== undefined
      ? { partitions }
      : { partitionBytes: partitionSize === undefined ? DEFAULT_PARTITION_BYTES : parseByteSize(partitionSize, 'partition-size') };
  const maxRejected = parseRejectLimit(optionalText(request.maxRejected, 'maxRejected') ?? '0');
  const allowEmpty = request.allowEmpty === true ? 'true' : (optionalText(request.allowEmpty === false ? 'false' : request.allowEmpty, 'allowEmpty') ?? 'false');
  if (allowEmpty !== 'true' && allowEmpty !== 'false') throw new InputError(`allow-empty "${allowEmpty}" must be true or false.`);
  const resume = request.resume === undefined || request.resume === null ? undefined : parseRunId(request.resume, 'resume');
  return { input, output, format: format as RecordFormat, sizing, maxPartitions, maxRejected, allowEmpty: allowEmpty === 'true', ...(resume === undefined ? {} : { resume }) };
}

/**
 * A run id is its execution's name: 1-80 letters, digits, `_`, `.` and `-` (what Step Functions
 * allows and a key can hold), not only dots: `..` would name a folder above the run's.
 */
export function parseRunId(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.-]{1,80}$/.test(value) || /^\.+$/.test(value)) {
    throw new InputError(`${name} ${JSON.stringify(value)} is not a run id: give the run-id of the run (the execution's name, like local-2026-11-28T07-00-00-000Z-1a2b3c4d), as its report and summary show it.`);
  }
  return value;
}

/** Where a run writes under its output location; none of it may be read as input. */
const WRITTEN = ['partitions/', 'rejected/', '_sfn-fanout/'];

/**
 * An output inside the input would be read back as input by the next run (and by this one, in S3,
 * if listed late): 100 records, then 203, then 308. Refused rather than excluded from the listing,
 * so what a run reads never depends on what an earlier run wrote.
 */
function refuseOverlap(input: Location, output: Location): void {
  // A place is a root (the bucket) and a folder in it that ends with its separator.
  const place = (location: Location): { root: string; folder: string; separator: string } =>
    location.kind === 's3' ? { root: location.bucket, folder: location.prefix, separator: '/' } : { root: '', folder: `${canonicalDirectory(location.path)}${path.sep}`, separator: path.sep };
  const [from, to] = [place(input), place(output)];
  if (input.kind !== output.kind || from.root !== to.root) return;
  // A single object as input is all that is read: an output beside it in its folder is no overlap.
  if (input.object === undefined && to.folder.startsWith(from.folder)) {
    throw new InputError(`output ${output.uri} is inside input ${input.uri}: every run would read what the runs before it wrote. Give an output outside the input.`);
  }
  const written = WRITTEN.find((area) => from.folder.startsWith(to.folder + area.replace('/', to.separator)));
  if (written !== undefined) {
    throw new InputError(`input ${input.uri} is where output ${output.uri} writes (${written}): the run would read its own results. Give an input outside ${WRITTEN.join(', ')} of the output.`);
  }
}

/** A directory with its symbolic links resolved, as far as it exists (an output may not exist yet). */
function canonicalDirectory(directory: string): string {
  let existing = directory;
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  return path.join(realpathSync(existing), path.relative(existing, directory));
}

/** A validated job back in the request form an execution takes as input. */
export function toJobRequest(job: Job): { [K in keyof typeof JOB_OPTION_NAMES | 'resume']?: string | number } {
  return {
    input: job.input,
    output: job.output,
    format: job.format,
    ...('partitions' in job.sizing ? { partitions: job.sizing.partitions } : { partitionSize: job.sizing.partitionBytes }),
    maxPartitions: job.maxPartitions,
    maxRejected: 'count' in job.maxRejected ? job.maxRejected.count : `${job.maxRejected.percent}%`,
    ...(job.allowEmpty ? { allowEmpty: 'true' } : {}),
    ...(job.resume === undefined ? {} : { resume: job.resume }),
  };
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** `1048576`, `64MiB`, `500 MB`, `1.5GiB`. */
export function parseByteSize(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  const bytes = match === null || unit === undefined ? Number.NaN : Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InputError(`${name} "${text}" is not a size: give a positive number of bytes, or one with a unit like 64MiB or 500MB.`);
  }
  return bytes;
}

/** `0` (the default: any rejected record fails the partition), `25`, or `0.5%`. */
export function parseRejectLimit(text: string): RejectLimit {
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  if (percent !== null && Number(percent[1]) <= 100) return { percent: Number(percent[1]) };
  if (/^\d+$/.test(text.trim())) return { count: Number(text.trim()) };
  throw new InputError(`max-rejected "${text}" is not a limit: give a count of records (like 10) or a percentage (like 0.5%).`);
}

function requiredText(value: unknown, field: keyof typeof JOB_OPTION_NAMES): string {
  const text = optionalText(value, field);
  if (text === undefined) throw new InputError(`${JOB_OPTION_NAMES[field]} is required: ${HINTS[field]}`);
  return text;
}

const HINTS: Partial<Record<keyof typeof JOB_OPTION_NAMES, string>> = {
  input: 'give the data to process, like s3://my-bucket/logs/2026-11-26/ or ./examples/sample',
  output: 'give where results go, like s3://my-bucket/results/ or ./out',
};

function optionalText(value: unknown, field: keyof typeof JOB_OPTION_NAMES): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw new InputError(`${JOB_OPTION_NAMES[field]} must be text, not ${typeof value}.`);
  return value.trim() === '' ? undefined : value.trim();
}

function optionalInteger(value: unknown, field: keyof typeof JOB_OPTION_NAMES, min: number, max: number): number | undefined {
  const text = optionalText(value, field);
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < min || number > max) {
    throw new InputError(`${JOB_OPTION_NAMES[field]} "${text}" must be a whole number from ${min} to ${max}.`);
  }
  return number;
}
