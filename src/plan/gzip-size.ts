import { mapLimited } from '../concurrency.ts';
import type { ObjectStore, StoredObject } from '../store/object-store.ts';
import { isSplittable, type PlannedObject } from './partition-plan.ts';

/** The smallest gzip stream: a 10-byte header, an empty deflate block, the 8-byte trailer. */
const MIN_GZIP_BYTES = 18;
const TRAILER_READS_IN_FLIGHT = 16;

/**
 * The size a gzip object decompresses to, so partitions are balanced by the work they hold rather
 * than by compressed bytes (a 10x-compressed log weighs 10x its size). One ranged read of the
 * trailer's last 4 bytes: ISIZE, the uncompressed length modulo 2^32 (RFC 1952). ISIZE is low for
 * streams over 4 GiB and, in a file of several gzip members, counts only the last member; an
 * object never weighs less than its compressed size, so such an object is at worst weighed as it
 * was before. A trailer claiming more than deflate's 1032:1 (a file that is not gzip at all), or
 * one that cannot be read, leaves the compressed size.
 */
export async function withUncompressedSizes(store: ObjectStore, objects: readonly StoredObject[]): Promise<PlannedObject[]> {
  return mapLimited(objects, TRAILER_READS_IN_FLIGHT, async (object): Promise<PlannedObject> => {
    if (isSplittable(object.key) || object.size < MIN_GZIP_BYTES) return object;
    const trailer = await readRange(store, object.key, object.size - 4, object.size).catch(() => undefined);
    if (trailer?.length !== 4) return object;
    return { ...object, uncompressedSize: estimateUncompressed(trailer.readUInt32LE(0), object.size) };
  });
}

/** Deflate cannot compress better than about 1032:1; an ISIZE beyond that is not a gzip trailer. */
const MAX_DEFLATE_RATIO = 1032;

/** ISIZE as a weight: never below the compressed size, nor above what deflate can expand to (see withUncompressedSizes). */
export function estimateUncompressed(isize: number, compressedSize: number): number {
  return isize > compressedSize * MAX_DEFLATE_RATIO ? compressedSize : Math.max(isize, compressedSize);
}

async function readRange(store: ObjectStore, key: string, start: number, end: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.read(key, { start, end })) chunks.push(chunk);
  return Buffer.concat(chunks);
}
