import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataError } from '../errors.ts';
import type { Segment } from '../plan/partition-plan.ts';
import { isSplittable } from '../plan/partition-plan.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { splitLines, type RawLine } from './split-lines.ts';

const FIRST_CONTINUATION = 64 * 1024;
const MAX_CONTINUATION = 8 * 1024 * 1024;

/**
 * The lines a segment owns. The rule: a line belongs to the segment whose byte range holds its
 * first byte. So a segment starting at `s > 0` reads from `s - 1` (to learn whether a line starts
 * exactly at `s`), and the line that starts before `end` is read to its end, past `end` if need be.
 */
export function segmentLines(store: ObjectStore, segment: Segment): AsyncGenerator<RawLine[]> {
  if (!isSplittable(segment.key)) {
    // A whole gzip object: offsets are positions in the decompressed text.
    return splitLines(gunzip(store.read(segment.key, undefined, segment.identity), store.uriOf(segment.key)), { firstOffset: 0 });
  }
  const from = Math.max(0, segment.start - 1);
  return splitLines(bytesFrom(store, segment.key, from, segment.end, segment.identity), {
    firstOffset: from,
    skipBefore: segment.start,
    stopAt: segment.end,
  });
}

/** The first line of an object (a CSV header), read without reading the rest. */
export async function firstLine(store: ObjectStore, key: string, identity?: string): Promise<RawLine | undefined> {
  const lines = isSplittable(key)
    ? splitLines(bytesFrom(store, key, 0, FIRST_CONTINUATION, identity), { firstOffset: 0, stopAt: 1 })
    : splitLines(gunzip(store.read(key, undefined, identity), store.uriOf(key)), { firstOffset: 0, stopAt: 1 });
  for await (const batch of lines) return batch[0];
  return undefined;
}

/** The segment's bytes, then further ranges of growing size until the caller stops or EOF; every read checks the object's identity. */
async function* bytesFrom(store: ObjectStore, key: string, start: number, end: number, identity: string | undefined): AsyncGenerator<Uint8Array> {
  let position = start;
  let step = end - start;
  let continuation = 0;
  for (;;) {
    let got = 0;
    for await (const chunk of store.read(key, { start: position, end: position + step }, identity)) {
      got += chunk.byteLength;
      yield chunk;
    }
    if (got === 0) return;
    position += got;
    // Past the segment only the rest of one record is wanted: start small, then grow.
    continuation = continuation === 0 ? FIRST_CONTINUATION : Math.min(continuation * 2, MAX_CONTINUATION);
    step = continuation;
  }
}

/**
 * The decompressed bytes of a gzip object. A corrupt or truncated one fails naming the object and
 * where: near which byte of the compressed object, after how many bytes of text.
 */
async function* gunzip(chunks: AsyncIterable<Uint8Array>, uri: string): AsyncGenerator<Buffer> {
  const inflate = createGunzip();
  let text = 0;
  try {
    // pipeline() carries a read error or a corrupt stream through to the reader.
    for await (const chunk of pipeline(Readable.from(chunks), inflate, () => {}) as AsyncIterable<Buffer>) {
      text += chunk.length;
      yield chunk;
    }
  } catch (error) {
    const zlibCode = (error as { code?: string }).code ?? '';
    if (!zlibCode.startsWith('Z_')) throw error;
    const what = zlibCode === 'Z_BUF_ERROR' ? 'ends before its gzip stream does (truncated?)' : `is not valid gzip (${(error as Error).message})`;
    throw new DataError(`${uri} ${what} near byte ${inflate.bytesWritten} of the compressed object, after ${text} bytes of text. Re-create or re-upload it, or move it out of the input.`, { cause: error });
  }
}
