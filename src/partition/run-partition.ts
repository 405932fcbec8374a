import { RejectedRecordsError, UnreadRecordsError, errorMessage } from '../errors.ts';
import type { FanoutRecord, PartitionContext, RecordContext } from '../handler/api.ts';
import type { LoadedHandler } from '../handler/load-handler.ts';
import type { RejectLimit } from '../job.ts';
import type { Partition, Segment } from '../plan/partition-plan.ts';
import { csvDecoder, csvHeader, linesDecoder, ndjsonDecoder, type LineDecoder, type RecordFormat } from '../records/formats.ts';
import { firstLine, segmentLines } from '../records/segment-lines.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { AttemptOutput } from './attempt-output.ts';
import { MAX_REJECTED_SAMPLES, type RejectedSample, type SucceededPartition } from './outcome.ts';

export interface PartitionRun {
  readonly partition: Partition;
  readonly format: RecordFormat;
  readonly maxRejected: RejectLimit;
  readonly source: ObjectStore;
  /** Where this attempt stages its outputs and rejected records; the reducer commits them if it counts this attempt. */
  readonly output: AttemptOutput;
  readonly handler: LoadedHandler;
  readonly now?: () => number;
  /** Takes known secrets out of the rejected records file. */
  readonly redact?: (text: string) => string;
}

interface Rejection extends RejectedSample {
  readonly line: string;
}

/**
 * Streams a partition's segments, hands each record to the handler, and returns its result.
 * Records that fail to parse, or make `processRecord` throw, are rejected: counted, sampled, and
 * kept whole in the attempt's rejected records so no input is silently dropped. `records` counts
 * what the partition read: the records handed to the handler and those that did not parse.
 */
export async function runPartition(run: PartitionRun): Promise<SucceededPartition> {
  const now = run.now ?? Date.now;
  const startedAt = now();
  const { partition, handler, output } = run;
  const context: PartitionContext = {
    partitionId: partition.id,
    writeOutput: (name, body) => output.writeOutput(name, body),
  };
  const rejections: Rejection[] = [];
  let unparsed = 0;
  const reject = (key: string, offset: number, error: unknown, line: string): void => {
    rejections.push({ key, offset, message: errorMessage(error), line });
  };

  /** Decoded records of one segment, a batch per chunk read; parse failures are rejected on the way. */
  async function* recordBatches(): AsyncGenerator<RecordBatch> {
    for (const segment of partition.segments) {
      const decode = await decoderFor(run.format, run.source, segment);
      if (decode === undefined) continue;
      const skipHeader = run.format === 'csv' && segment.start === 0;
      for await (const lines of segmentLines(run.source, segment)) {
        const batch: RecordBatch = { key: segment.key, values: [], offsets: [] };
        for (const line of lines) {
          if (line.end === line.start || (skipHeader && line.offset === 0)) continue;
          try {
            batch.values.push(decode(line));
            batch.offsets.push(line.offset);
          } catch (error) {
            unparsed += 1;
            reject(segment.key, line.offset, error, line.buffer.toString('utf8', line.start, line.end));
          }
        }
        yield batch;
      }
    }
  }

  let result: unknown;
  let handed = 0;
  if (handler.kind === 'partition') {
    const records = new HandedRecords(recordBatches());
    try {
      result = await handler.handler.processPartition(records, context);
      handed = records.handed;
      const unread = await records.unread();
      if (unread !== undefined) {
        throw new UnreadRecordsError(
          `Partition ${partition.id}: processPartition returned after ${handed} of the partition’s records without reading the rest (the next was ${unread.key} at byte ${unread.offset}). A processPartition handler must read every record: loop over all of \`records\`, skipping with continue, never returning or breaking out early.`,
        );
      }
    } finally {
      await records.close();
    }
  } else {
    const { init, processRecord, finish } = handler.handler;
    let state = init === undefined ? {} : init.call(handler.handler, context);
    const recordContext: RecordContext = { partitionId: partition.id, key: '', offset: 0 };
    for await (const { key, values, offsets } of recordBatches()) {
      handed += values.length;
      recordContext.key = key;
      for (let i = 0; i < values.length; i += 1) {
        recordContext.offset = offsets[i]!;
        try {
          const next = processRecord.call(handler.handler, state, values[i], recordContext);
          if (next !== undefined) state = next;
        } catch (error) {
          reject(key, offsets[i]!, error, JSON.stringify(values[i]));
        }
      }
    }
    result = finish === undefined ? state : await finish.call(handler.handler, state, context);
  }

  // Writes the handler started and never awaited belong to this attempt too: the outcome lists them only once they are in place.
  await output.settled();
  const records = handed + unparsed;
  const samples = rejections.slice(0, MAX_REJECTED_SAMPLES).map(({ key, offset, message }) => ({ key, offset, message }));
  if (exceeds(rejections.length, records, run.maxRejected)) {
    const first = samples[0]!;
    throw new RejectedRecordsError(
      `Partition ${partition.id} rejected ${rejections.length} of ${records} records, over max-rejected ${describeLimit(run.maxRejected)}. First: ${first.key} at byte ${first.offset}: ${first.message}. Fix the data or the handler, or raise max-rejected.`,
    );
  }
  if (rejections.length > 0) {
    await output.writeRejected((run.redact ?? String)(rejections.map((entry) => JSON.stringify(entry)).join('\n') + '\n'));
  }
  return {
    id: partition.id,
    ...(partition.split === undefined ? {} : { split: partition.split }),
    status: 'succeeded',
    attempt: output.ref.attempt,
    bytes: partition.bytes,
    records,
    rejected: rejections.length,
    rejectedSamples: samples,
    outputs: output.committedUris,
    staged: output.staged,
    startedAt,
    finishedAt: now(),
    result: result ?? null,
  };
}

/** The decoder for a segment; for CSV it needs the object's header, read from its first line. */
async function decoderFor(format: RecordFormat, source: ObjectStore, segment: Segment): Promise<LineDecoder | undefined> {
  if (format === 'lines') return linesDecoder();
  if (format === 'ndjson') return ndjsonDecoder();
  const header = await firstLine(source, segment.key, segment.identity);
  // An object that is only a header (or empty) has no records.
  return header === undefined ? undefined : csvDecoder(csvHeader(header, source.uriOf(segment.key)));
}

/** Records of one segment: parallel arrays, so the per-record path allocates nothing of its own. */
interface RecordBatch {
  readonly key: string;
  readonly values: unknown[];
  readonly offsets: number[];
}

/**
 * The records a processPartition handler iterates, counted as they are handed over. After the
 * handler returns, `unread` tells whether it left any: a partition whose records were not all
 * read must fail, or they would be lost without a word.
 */
class HandedRecords implements AsyncIterable<FanoutRecord> {
  handed = 0;
  readonly #batches: AsyncGenerator<RecordBatch>;
  #batch: RecordBatch | undefined;
  #index = 0;
  #exhausted = false;

  constructor(batches: AsyncGenerator<RecordBatch>) {
    this.#batches = batches;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FanoutRecord> {
    for (;;) {
      const batch = this.#batch;
      // Awaits only between batches: the per-record path is a plain yield.
      if (batch === undefined || this.#index >= batch.values.length) {
        if (!(await this.#hasNext())) return;
        continue;
      }
      const i = this.#index++;
      this.handed += 1;
      yield { value: batch.values[i], key: batch.key, offset: batch.offsets[i]! };
    }
  }

  /** The first record the handler never took, if any. */
  async unread(): Promise<FanoutRecord | undefined> {
    if (!(await this.#hasNext())) return undefined;
    const batch = this.#batch!;
    return { value: batch.values[this.#index], key: batch.key, offset: batch.offsets[this.#index]! };
  }

  /** Stops reading: closes the object reads still open. */
  async close(): Promise<void> {
    await this.#batches.return(undefined);
  }

  async #hasNext(): Promise<boolean> {
    while (!this.#exhausted && (this.#batch === undefined || this.#index >= this.#batch.values.length)) {
      const next = await this.#batches.next();
      if (next.done === true) this.#exhausted = true;
      else {
        this.#batch = next.value;
        this.#index = 0;
      }
    }
    return !this.#exhausted;
  }
}

function exceeds(rejected: number, records: number, limit: RejectLimit): boolean {
  return 'count' in limit ? rejected > limit.count : rejected > (limit.percent / 100) * records;
}

function describeLimit(limit: RejectLimit): string {
  return 'count' in limit ? String(limit.count) : `${limit.percent}%`;
}
