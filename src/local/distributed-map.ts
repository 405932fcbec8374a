import { randomUUID } from 'node:crypto';
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { mapLimited } from '../concurrency.ts';
import { UnsupportedFeatureError, errorMessage } from '../errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readBytes } from '../store/read-json.ts';
import type { ChildRecord, ResultManifest } from '../steps/map-run-results.ts';

type State = Record<string, unknown>;
type NamedRecord = ChildRecord & { readonly Name: string };

/** The Distributed Map fields the local engine executes; anything else it refuses by name. */
const SUPPORTED = new Set(['Type', 'Comment', 'ItemReader', 'ItemBatcher', 'ItemsPath', 'ItemSelector', 'ItemProcessor', 'MaxConcurrency', 'MaxConcurrencyPath', 'ToleratedFailurePercentage', 'ResultWriter', 'Label', 'InputPath', 'ResultPath', 'ResultSelector', 'OutputPath', 'Retry', 'Catch', 'Next', 'End']);

export function isDistributedMap(state: State): boolean {
  return state.Type === 'Map' && (state.ItemProcessor as { ProcessorConfig?: { Mode?: string } } | undefined)?.ProcessorConfig?.Mode === 'DISTRIBUTED';
}

export function assertDistributedMapRunsLocally(name: string, state: State): void {
  const refuse = (feature: string): never => {
    throw new UnsupportedFeatureError(`State "${name}" uses ${feature}, which the local engine cannot execute faithfully in a Distributed Map: remove it for local runs, or run it with engine aws.`);
  };
  for (const field of Object.keys(state)) if (!SUPPORTED.has(field)) refuse(field);
  const reader = state.ItemReader as { Resource?: string; ReaderConfig?: { InputType?: string } } | undefined;
  if (reader !== undefined && (reader.Resource !== 'arn:aws:states:::s3:getObject' || reader.ReaderConfig?.InputType !== 'JSONL')) {
    refuse(`an ItemReader other than s3:getObject with InputType JSONL (${reader.Resource}, ${reader.ReaderConfig?.InputType})`);
  }
  const batcher = state.ItemBatcher as Record<string, unknown> | undefined;
  for (const field of Object.keys(batcher ?? {})) {
    if (!['MaxItemsPerBatch', 'MaxItemsPerBatchPath', 'BatchInput'].includes(field)) refuse(`ItemBatcher.${field}`);
  }
  const writer = state.ResultWriter as { Resource?: string } | undefined;
  if (writer !== undefined && writer.Resource !== 'arn:aws:states:::s3:putObject') refuse(`a ResultWriter other than s3:putObject (${writer.Resource})`);
}

/** The Task that stands in for a Distributed Map: same input, output and error handling. */
export function distributedMapAsTask(state: State): State {
  const kept = ['Comment', 'InputPath', 'ResultPath', 'ResultSelector', 'OutputPath', 'Retry', 'Catch', 'Next', 'End'];
  return { Type: 'Task', Resource: 'arn:aws:states:::sfn-fanout:distributedMap', ...Object.fromEntries(kept.filter((key) => key in state).map((key) => [key, state[key]])) };
}

export interface DistributedMapDeps {
  /** The store that holds `bucket`: the output directory for "local", else the S3 bucket. */
  readonly storeFor: (bucket: string) => ObjectStore;
  readonly runOptions: RunOptions;
  readonly runId: string;
  readonly onChildFinished?: (output: unknown, failed: boolean) => void;
  /** Takes known secrets out of the result files, as out of everything the engine writes. */
  readonly redact?: (text: string) => string;
}

/**
 * Runs a Distributed Map as AWS does: items from the ItemReader's JSONL object, each child a
 * separate execution of the ItemProcessor with its ItemSelector input, at most MaxConcurrency at
 * once; a child that fails counts against ToleratedFailurePercentage; with a ResultWriter the
 * results go to `<Prefix>/<map run id>/` as manifest.json, SUCCEEDED_0.json and FAILED_0.json.
 */
export async function runDistributedMap(state: State, input: unknown, deps: DistributedMapDeps): Promise<unknown> {
  const items = await readItems(state, input, deps);
  const processor = { ...(state.ItemProcessor as State) };
  delete processor.ProcessorConfig;
  const machine = new StateMachine(processor as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });
  const limit = Number(state.MaxConcurrencyPath === undefined ? (state.MaxConcurrency ?? 0) : valueAt(String(state.MaxConcurrencyPath), input, {})) || items.length;
  const mapRunId = randomUUID();
  const startDate = new Date().toISOString();
  const selected = items.map((item, index) => (state.ItemSelector === undefined ? item : payload(state.ItemSelector as State, input, { Map: { Item: { Index: index, Value: item } } })));
  const children = batched(selected, state.ItemBatcher as State | undefined, input);
  const records = await mapLimited(children, limit, async (childInput, index): Promise<NamedRecord> => {
    const name = `${mapRunId}:${index}`;
    try {
      const output = await machine.run(childInput as never, deps.runOptions).result;
      deps.onChildFinished?.(output, false);
      return { Name: name, Input: JSON.stringify(childInput), Output: JSON.stringify(output), Status: 'SUCCEEDED' };
    } catch (failure) {
      const inner = (failure as { cause?: unknown }).cause ?? failure;
      deps.onChildFinished?.(undefined, true);
      return { Name: name, Input: JSON.stringify(childInput), Status: 'FAILED', Error: (inner as { name?: string }).name ?? 'Error', Cause: errorMessage(inner) };
    }
  });
  const succeeded = records.filter((record) => record.Status === 'SUCCEEDED');
  const failed = records.filter((record) => record.Status !== 'SUCCEEDED');
  const mapRunArn = `arn:aws:states:local:000000000000:mapRun:${deps.runId}/${String(state.Label ?? 'Map')}:${mapRunId}`;
  const output = state.ResultWriter === undefined ? records.map((record) => JSON.parse(record.Output ?? 'null')) : await writeResults(state, mapRunId, mapRunArn, { succeeded, failed }, startDate, deps);
  const tolerated = Number(state.ToleratedFailurePercentage ?? 0);
  if (children.length > 0 && (failed.length / children.length) * 100 > tolerated) {
    throw Object.assign(new Error(`${failed.length} of ${children.length} child workflows failed, over ToleratedFailurePercentage ${tolerated}.`), { name: 'States.ExceedToleratedFailureThreshold' });
  }
  return output;
}

/** With an ItemBatcher, each child gets `{ BatchInput, Items }` of up to MaxItemsPerBatch items. */
function batched(items: unknown[], batcher: State | undefined, input: unknown): unknown[] {
  if (batcher === undefined) return items;
  const size = Number(batcher.MaxItemsPerBatchPath === undefined ? batcher.MaxItemsPerBatch : valueAt(String(batcher.MaxItemsPerBatchPath), input, {}));
  if (!Number.isInteger(size) || size < 1) throw Object.assign(new Error(`MaxItemsPerBatch ${size} is not a whole number from 1.`), { name: 'States.Runtime' });
  const batchInput = batcher.BatchInput === undefined ? undefined : payload(batcher.BatchInput as State, input, {});
  const batches: unknown[] = [];
  for (let start = 0; start < items.length; start += size) {
    batches.push({ ...(batchInput === undefined ? {} : { BatchInput: batchInput }), Items: items.slice(start, start + size) });
  }
  return batches;
}

async function readItems(state: State, input: unknown, deps: DistributedMapDeps): Promise<unknown[]> {
  const reader = state.ItemReader as { Parameters?: State } | undefined;
  if (reader === undefined) {
    const items = valueAt(String(state.ItemsPath ?? '$'), input, {});
    if (!Array.isArray(items)) throw Object.assign(new Error('The Map state input is not an array.'), { name: 'States.Runtime' });
    return items;
  }
  const { Bucket, Key } = payload(reader.Parameters ?? {}, input, {}) as { Bucket: string; Key: string };
  return (await readBytes(deps.storeFor(Bucket), Key))
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

async function writeResults(
  state: State,
  mapRunId: string,
  mapRunArn: string,
  results: { succeeded: NamedRecord[]; failed: NamedRecord[] },
  startDate: string,
  deps: DistributedMapDeps,
): Promise<{ MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } }> {
  const { Bucket, Prefix } = payload(((state.ResultWriter as State).Parameters ?? {}) as State, {}, {}) as { Bucket: string; Prefix?: string };
  const store = deps.storeFor(Bucket);
  const base = `${Prefix === undefined || Prefix === '' ? '' : `${Prefix.replace(/\/$/, '')}/`}${mapRunId}/`;
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const [kind, records] of [['SUCCEEDED', results.succeeded], ['FAILED', results.failed]] as const) {
    if (records.length === 0) continue;
    const body = (deps.redact ?? String)(JSON.stringify(records.map((record) => ({ ExecutionArn: `${mapRunArn}:${record.Name}`, StartDate: startDate, StopDate: new Date().toISOString(), ...record }))));
    const key = `${base}${kind}_0.json`;
    await store.write(key, body);
    files[kind].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifest: ResultManifest = { DestinationBucket: Bucket, MapRunArn: mapRunArn, ResultFiles: files };
  await store.write(`${base}manifest.json`, JSON.stringify(manifest));
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket, Key: `${base}manifest.json` } };
}

/** A payload template: `key.$` fields take the value at a path of the input (`$.`) or the context (`$$.`). */
function payload(template: State, input: unknown, context: unknown): unknown {
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) => {
      if (key.endsWith('.$')) return [key.slice(0, -2), valueAt(String(value), input, context)];
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [key, payload(value as State, input, context)];
      return [key, value];
    }),
  );
}

/** The value at a path of the form `$.a.b` (or `$$.a.b` in the context object). */
export function valueAt(path: string, input: unknown, context: unknown): unknown {
  const match = /^(\$\$?)((?:\.[A-Za-z0-9_]+)*)$/.exec(path);
  if (match === null) throw new UnsupportedFeatureError(`The path ${path} is more than the local Distributed Map reads: use $.field.field or $$.Map.Item.Value.`);
  let value: unknown = match[1] === '$$' ? context : input;
  for (const part of match[2]!.split('.').slice(1)) value = (value as Record<string, unknown> | undefined)?.[part];
  return value;
}
