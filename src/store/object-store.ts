/** One object under a location; `key` is relative to the location. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** Which version of the object was listed (S3: its ETag; a directory: size and modification time). */
  readonly identity?: string;
}

/** Bytes [start, end) of an object. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The one interface the data path needs from a store. Keys are relative to the store's location.
 * `read` yields the bytes of `range` that exist: a range past the end of the object yields nothing.
 * Given the `identity` the listing reported, it fails with InputChangedError when the object is no
 * longer that version; a missing key fails with MissingObjectError.
 */
export interface ObjectStore {
  readonly uri: string;
  list(): AsyncIterable<StoredObject>;
  read(key: string, range?: ByteRange, identity?: string): AsyncIterable<Uint8Array>;
  write(key: string, body: string | Uint8Array): Promise<void>;
  /** An object written piece by piece, for what is too big to hold (rejected records); it exists once `end` resolves. */
  writer(key: string): ObjectWriter;
  /** Copies an object within the store (S3: a server-side copy); how an attempt's outputs are committed. */
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Full URI of a key, for reports and error messages. */
  uriOf(key: string): string;
}

/**
 * Bytes streamed to one object. `write` resolves once the store has taken the bytes (its back
 * pressure); nothing is visible before `end`, and `abort` drops what was written.
 */
export interface ObjectWriter {
  write(chunk: string | Uint8Array): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
}
