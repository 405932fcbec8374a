/**
 * A small error hierarchy: every error sfn-fanout raises on purpose says what went wrong and how to
 * fix it, and keeps the underlying error as `cause`.
 */
export class FanoutError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The bundler renames a class whose name another module also uses (errors_InputError): users see the source's name.
    this.name = new.target.name.replace(/^[a-z][a-z0-9_]*_(?=[A-Z])/, '');
  }
}

/** A user-supplied value (input, option, template, handler module) is unusable. */
export class InputError extends FanoutError {}

/** The data store could not be listed, read or written. */
export class StoreError extends FanoutError {}

/** A key that is not in the store. */
export class MissingObjectError extends StoreError {}

/** An input object is not the one the plan was made from (S3 ETag, or a file's size and modification time). */
export class InputChangedError extends FanoutError {}

/** A processPartition handler returned before reading every record of its partition. */
export class UnreadRecordsError extends FanoutError {}

/** The user's handler module is missing or exports nothing usable. */
export class HandlerModuleError extends FanoutError {}

/** A partition rejected more records than the job tolerates; it says how many it read, handed over and rejected. */
export class RejectedRecordsError extends FanoutError {
  readonly counts: { readonly records: number; readonly handed: number; readonly rejected: number };

  constructor(message: string, counts: RejectedRecordsError['counts']) {
    super(message);
    this.counts = counts;
  }
}

/** The reducer's default merge met two values it cannot merge. */
export class MergeError extends FanoutError {}

/** The run was cancelled (SIGINT, SIGTERM, a cancelled job) and stopped what it was doing. */
export class CancelledError extends FanoutError {
  /** The error of an abort signal: its reason names the signal when one did it. */
  static of(signal: AbortSignal): CancelledError {
    return new CancelledError(`The run was cancelled${typeof signal.reason === 'string' ? ` by ${signal.reason}` : ''}.`);
  }
}

/** A state machine definition uses a feature the local engine cannot execute faithfully. */
export class UnsupportedFeatureError extends FanoutError {}

/** An input object's bytes cannot be decoded (a corrupt or truncated gzip object). */
export class DataError extends FanoutError {}


export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
