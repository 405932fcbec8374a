/**
 * One line of an object: bytes [start, end) of `buffer`, without the `\n` (and without a `\r`
 * before it). A view, not a copy: no buffer is allocated per line.
 */
export interface RawLine {
  readonly buffer: Buffer;
  readonly start: number;
  readonly end: number;
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
        if (pending.length === 0) {
          batch.push({ buffer: chunk, start: from, end: at > from && chunk[at - 1] === CARRIAGE_RETURN ? at - 1 : at, offset: lineStart });
        } else {
          batch.push(wholeLine(Buffer.concat([...pending, chunk.subarray(from, at)]), lineStart));
        }
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
  if (pending.length > 0) yield [wholeLine(Buffer.concat(pending), lineStart)];
}

function wholeLine(buffer: Buffer, offset: number): RawLine {
  const end = buffer.length > 0 && buffer[buffer.length - 1] === CARRIAGE_RETURN ? buffer.length - 1 : buffer.length;
  return { buffer, start: 0, end, offset };
}
