/**
 * The contract between sfn-fanout and the user's code. A handler module exports either
 * `processRecord` (a fold over records, with optional `init` and `finish`) or `processPartition`
 * (one call over an async iterable of records), and optionally `merge` for the reducer.
 * Partial results must be JSON-serializable: they travel through Step Functions.
 */

/** Where a record came from. One object is reused for every record of a partition: copy what you keep. */
export interface RecordContext {
  readonly partitionId: number;
  key: string;
  offset: number;
}

export interface PartitionContext {
  readonly partitionId: number;
  /**
   * Writes a file that appears at `partitions/part-NNNNN/<name>` under the output location once the
   * reducer commits this attempt (returns that URI): an attempt that is not counted (timed out,
   * retried) never shows. Writing a name again replaces it (the last write started wins). The
   * partition waits for every write it started, awaited or not, before its result counts; a write
   * that fails fails the partition. Names use `/` for folders; a backslash is refused. Read a run's
   * outputs through its manifest: files of earlier runs may remain beside them.
   */
  writeOutput(name: string, body: string | Uint8Array): Promise<string>;
}

export interface FanoutRecord<TRecord = unknown> {
  readonly value: TRecord;
  readonly key: string;
  readonly offset: number;
}

export interface RecordHandler<TRecord = unknown, TState = unknown, TResult = TState> {
  /** The state a partition starts from; `{}` when not given. */
  init?(context: PartitionContext): TState;
  /** Folds one record into the state (mutate it, or return a new one). Throwing rejects the record. */
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- mutating folds return nothing
  processRecord(state: TState, record: TRecord, context: RecordContext): TState | void;
  /** Turns the final state into the partition's result; the state itself when not given. */
  finish?(state: TState, context: PartitionContext): TResult | Promise<TResult>;
  merge?(a: TResult, b: TResult): TResult;
}

export interface PartitionHandler<TRecord = unknown, TResult = unknown> {
  /**
   * Consumes every record of the partition: returning before the last one fails the partition.
   * Records that fail to parse are counted, not passed.
   */
  processPartition(records: AsyncIterable<FanoutRecord<TRecord>>, context: PartitionContext): Promise<TResult>;
  merge?(a: TResult, b: TResult): TResult;
}

export type FanoutHandler = RecordHandler | PartitionHandler;
