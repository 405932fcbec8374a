import { gzipSync } from 'node:zlib';
import { estimateUncompressed, withUncompressedSizes } from '../src/plan/gzip-size.ts';
import { planPartitions, type PlannedObject } from '../src/plan/partition-plan.ts';
import type { ByteRange, ObjectStore } from '../src/store/object-store.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { tempDirStore } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const MiB = 1024 * 1024;

/** A store that counts the ranges read from it. */
function countingReads(store: ObjectStore): { store: ObjectStore; reads: (ByteRange | undefined)[] } {
  const reads: (ByteRange | undefined)[] = [];
  return { reads, store: { uri: store.uri, list: () => store.list(), write: (k, b) => store.write(k, b), writer: (k) => store.writer(k), uriOf: (k) => store.uriOf(k), copy: (from, to) => store.copy(from, to), read: (key, range, identity) => (reads.push(range), store.read(key, range, identity)) } };
}

describe('gzip objects are weighed by what they decompress to', () => {
  it('balances a 10x-compressed gzip object against plain text by uncompressed bytes, where compressed bytes leave it 1.7x off', () => {
    const listing: PlannedObject[] = [
      { key: 'day.ndjson.gz', size: 10 * MiB, uncompressedSize: 100 * MiB },
      { key: 'a.ndjson', size: 150 * MiB },
      { key: 'b.ndjson', size: 150 * MiB },
    ];
    const work = (plan: ReturnType<typeof planPartitions>) =>
      plan.partitions.map((partition) => partition.segments.reduce((sum, segment) => sum + (segment.key.endsWith('.gz') ? 100 * MiB : segment.end - segment.start), 0));
    const imbalance = (loads: number[]) => Math.max(...loads) / (loads.reduce((a, b) => a + b, 0) / loads.length);
    const weighed = planPartitions(listing, { sizing: { partitions: 4 }, maxPartitions: 10 });
    const byCompressed = planPartitions(listing.map(({ key, size }) => ({ key, size })), { sizing: { partitions: 4 }, maxPartitions: 10 });
    expect(imbalance(work(weighed))).toBeLessThanOrEqual(1.01);
    expect(imbalance(work(byCompressed))).toBeCloseTo(1.675, 3);
    expect(weighed).toMatchObject({ bytes: 310 * MiB, uncompressedBytes: 400 * MiB });
    expect(weighed.partitions[0]).toMatchObject({ bytes: 10 * MiB, uncompressedBytes: 100 * MiB, segments: [{ key: 'day.ndjson.gz', start: 0, end: 10 * MiB }] });
  });

  describe('reading ISIZE from the trailer', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['gzip-input']);
    });
    afterAll(async () => s3.stop());

    it('with one 4-byte ranged read per gzip object, in a directory and in S3, and none for plain objects', async () => {
      const text = Buffer.from('x'.repeat(300_000));
      const files = { 'a.txt.gz': gzipSync(text), 'b.txt': Buffer.from('plain\n'), 'c.gz': gzipSync(Buffer.alloc(0)) };
      const dir = await tempDirStore();
      const bucket = new S3Store(s3.client, 'gzip-input', 'in/');
      for (const store of [dir, bucket]) {
        for (const [key, body] of Object.entries(files)) await store.write(key, body);
        const listing = [];
        for await (const object of store.list()) listing.push(object);
        const { store: counted, reads } = countingReads(store);
        const weighed = await withUncompressedSizes(counted, listing);
        // Each object keeps the identity the listing gave it (an ETag, or size and mtime).
        const identity = expect.any(String) as unknown as string;
        expect(weighed).toEqual([
          { key: 'a.txt.gz', size: files['a.txt.gz'].length, identity, uncompressedSize: 300_000 },
          { key: 'b.txt', size: 6, identity },
          // An empty stream decompresses to nothing: it weighs its compressed bytes.
          { key: 'c.gz', size: files['c.gz'].length, identity, uncompressedSize: files['c.gz'].length },
        ]);
        expect(reads).toEqual([
          { start: files['a.txt.gz'].length - 4, end: files['a.txt.gz'].length },
          { start: files['c.gz'].length - 4, end: files['c.gz'].length },
        ]);
      }
    });

    it('never weighs an object below its compressed size: ISIZE wraps at 4 GiB and counts only the last member', async () => {
      // 5 GiB that compressed to 1 GiB: ISIZE is 1 GiB (5 GiB mod 4 GiB), so the weight is the compressed size.
      expect(estimateUncompressed((5 * 1024 * MiB) % 2 ** 32, 1024 * MiB)).toBe(1024 * MiB);
      const dir = await tempDirStore();
      // Two gzip members, as cat a.gz b.gz or pigz make: the trailer tells only the last one's size.
      const multi = Buffer.concat([gzipSync(Buffer.from('y'.repeat(200_000))), gzipSync(Buffer.from('z\n'))]);
      await dir.write('multi.gz', multi);
      await dir.write('broken.gz', Buffer.from('not gzip at all, just 32 bytes!!'));
      const weighed = await withUncompressedSizes(dir, [{ key: 'multi.gz', size: multi.length }, { key: 'broken.gz', size: 32 }]);
      expect(weighed.map((object) => object.uncompressedSize)).toEqual([multi.length, 32]);
      // Its trailer, read as ISIZE, claims more than deflate can expand 32 bytes to.
      expect(Buffer.from('es!!').readUInt32LE(0)).toBeGreaterThan(32 * 1032);
    });
  });
});
