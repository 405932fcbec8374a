import type { Job } from '../job.ts';
import { parseLocation } from '../location.ts';
import type { MapResult } from '../partition/outcome.ts';
import { storeForBucket } from '../store/bucket-names.ts';
import { readJson } from '../store/read-json.ts';
import type { StepDeps } from './steps.ts';

/** A Distributed Map's output when it has a ResultWriter. */
export interface DistributedMapOutput {
  readonly MapRunArn?: string;
  readonly ResultWriterDetails: { readonly Bucket: string; readonly Key: string };
}

/** `manifest.json` of a ResultWriter, as AWS documents it. */
export interface ResultManifest {
  readonly DestinationBucket?: string;
  readonly MapRunArn?: string;
  readonly ResultFiles: Partial<Record<'SUCCEEDED' | 'FAILED' | 'PENDING', readonly { readonly Key: string; readonly Size: number }[]>>;
}

/** One child execution in a SUCCEEDED_n.json / FAILED_n.json file: Input and Output are JSON strings. */
export interface ChildRecord {
  readonly Input: string;
  readonly Output?: string;
  readonly Status: string;
  readonly Error?: string;
  readonly Cause?: string;
}

/**
 * The Map results a Distributed Map's ResultWriter wrote. A succeeded child's Output is what the
 * iteration returned (a partition summary, or a partition the Catch marked failed); a child that
 * failed, timed out or never ran (PENDING) becomes a failed partition with its error.
 */
export function mapResultsOf(files: { succeeded: readonly ChildRecord[]; failed: readonly ChildRecord[]; pending: readonly ChildRecord[] }): MapResult[] {
  const failedChild = (record: ChildRecord, error: string, cause: string): MapResult => {
    const input = JSON.parse(record.Input) as { item?: { id: number; bytes: number }; Items?: { id: number; bytes: number }[] };
    // A batched child stood for several partitions: each of them failed.
    if (input.Items !== undefined) return { status: 'failed', batch: input.Items.map(({ id, bytes }) => ({ id, bytes })), error, cause };
    return { id: input.item!.id, status: 'failed', bytes: input.item!.bytes, error, cause };
  };
  return [
    ...files.succeeded.map((record) => JSON.parse(record.Output ?? 'null') as MapResult),
    ...files.failed.map((record) => failedChild(record, record.Error ?? `States.${record.Status}`, record.Cause ?? `The child workflow ended ${record.Status}.`)),
    ...files.pending.map((record) => failedChild(record, 'SfnFanout.NotRun', 'The child workflow never ran (the Map run stopped first).')),
  ];
}

export async function readMapRunResults(job: Job, output: DistributedMapOutput, deps: StepDeps): Promise<MapResult[]> {
  const { Bucket, Key } = output.ResultWriterDetails;
  const store = storeForBucket(Bucket, parseLocation(job.output, 'output'), deps.s3);
  const manifest = await readJson<ResultManifest>(store, Key);
  const read = async (kind: 'SUCCEEDED' | 'FAILED' | 'PENDING'): Promise<ChildRecord[]> => {
    const records: ChildRecord[] = [];
    for (const file of manifest.ResultFiles[kind] ?? []) records.push(...(await readJson<ChildRecord[]>(store, file.Key)));
    return records;
  };
  return mapResultsOf({ succeeded: await read('SUCCEEDED'), failed: await read('FAILED'), pending: await read('PENDING') });
}
