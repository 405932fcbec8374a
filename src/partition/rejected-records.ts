import { errorMessage } from '../errors.ts';
import type { ObjectWriter } from '../store/object-store.ts';
import { MAX_REJECTED_SAMPLES, type RejectedSample } from './outcome.ts';

/** Rejected records buffered before they are written: the most a partition holds of them at once. */
const FLUSH_CHARS = 1 << 20;

/**
 * A partition's rejected records: each goes to the attempt's rejected records file as it comes
 * (one JSON document a line, redacted), and only the first few stay in memory as samples for the
 * report. However many records a partition rejects, it holds one buffer of them.
 */
export class RejectedRecords {
  count = 0;
  readonly samples: RejectedSample[] = [];
  readonly #open: () => ObjectWriter;
  readonly #redact: (text: string) => string;
  #writer: ObjectWriter | undefined;
  #pending = '';

  constructor(open: () => ObjectWriter, redact: (text: string) => string = String) {
    this.#open = open;
    this.#redact = redact;
  }

  add(key: string, offset: number, error: unknown, line: string): void {
    const message = errorMessage(error);
    this.count += 1;
    if (this.samples.length < MAX_REJECTED_SAMPLES) this.samples.push({ key, offset, message });
    this.#pending += `${JSON.stringify({ key, offset, message, line })}\n`;
  }

  /** Writes the buffer once it is full; called between chunks, where the reader awaits anyway. */
  async flushIfFull(): Promise<void> {
    if (this.#pending.length >= FLUSH_CHARS) await this.#flush();
  }

  /** Writes the rest and completes the file; nothing is written when nothing was rejected. */
  async close(): Promise<void> {
    if (this.count === 0) return;
    await this.#flush();
    await this.#writer!.end();
  }

  /** Drops the file of an attempt that failed for another reason. */
  async abort(): Promise<void> {
    this.#pending = '';
    await this.#writer?.abort();
  }

  async #flush(): Promise<void> {
    if (this.#pending === '') return;
    // Redacted a buffer at a time: one scan of the text, and a secret never spans two lines of JSON.
    const text = this.#redact(this.#pending);
    this.#pending = '';
    await (this.#writer ??= this.#open()).write(text);
  }
}
