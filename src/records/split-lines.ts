/** One line of an object: its bytes without the `\n` (and without a `\r` before it). */
export interface RawLine {
  readonly bytes: Buffer;
  /** Absolute offset of the line's first byte in the (decompressed) object. */
  readonly offset: number;
}

export interface SplitWindow {
  /** Absolute offset of the first byte `chunks` yields. */
  readonly firstOffset: number;
  /** Lines starting before this are dropped unbuffered: skipping a huge record costs no memory. */
  readonly skipBefore?: number;
  /** No line starting at or after this is wanted: stop without reading further. */
  readonly stopAt?: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Splits a byte stream into lines, yielding the lines each chunk completes as one batch (one await
 * per chunk, not per line). A last line without a trailing newline is still a line.
 */
export async function* splitLines(chunks: AsyncIterable<Uint8Array>, window: SplitWindow): AsyncGenerator<RawLine[]> {
  const { firstOffset, skipBefore = firstOffset, stopAt = Number.POSITIVE_INFINITY } = window;
  let lineStart = firstOffset;
  let pending: Buffer[] = [];
  let chunkOffset = firstOffset;
  for await (const raw of chunks) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const batch: RawLine[] = [];
    let from = 0;
    let done = false;
    for (let at = chunk.indexOf(NEWLINE, from); at !== -1; at = chunk.indexOf(NEWLINE, from)) {
      if (lineStart >= skipBefore) {
        const piece = chunk.subarray(from, at);
        batch.push({ bytes: trimCarriageReturn(pending.length === 0 ? piece : Buffer.concat([...pending, piece])), offset: lineStart });
      }
      pending = [];
      from = at + 1;
      lineStart = chunkOffset + from;
      if (lineStart >= stopAt) {
        done = true;
        break;
      }
    }
    if (batch.length > 0) yield batch;
    if (done) return;
    if (from < chunk.length && lineStart >= skipBefore) pending.push(chunk.subarray(from));
    chunkOffset += chunk.length;
  }
  if (pending.length > 0) yield [{ bytes: trimCarriageReturn(Buffer.concat(pending)), offset: lineStart }];
}

function trimCarriageReturn(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, line.length - 1) : line;
}
