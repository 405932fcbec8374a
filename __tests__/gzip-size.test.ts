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

  it('reads the trailer of a gzip object from 18 bytes up (the smallest stream), 16 at a time, and leaves an object whose read fails as listed', async () => {
    // A trailer claiming 100 bytes: ISIZE is the last 4 bytes, little-endian.
    const trailer = (size: number) => Buffer.concat([Buffer.alloc(size - 4), Buffer.from([100, 0, 0, 0])]);
    const bodies = new Map<string, Buffer>([['small.gz', trailer(17)], ['min.gz', trailer(18)]]);
    for (let i = 0; i < 40; i += 1) bodies.set(`many/${i}.gz`, trailer(20));
    let inFlight = 0;
    let most = 0;
    const reads: string[] = [];
    const store = {
      uri: 'mem://',
      uriOf: (key: string) => `mem://${key}`,
      async *read(key: string, range?: ByteRange) {
        reads.push(key);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        if (key === 'fails.gz') throw new Error('connection reset');
        yield bodies.get(key)!.subarray(range!.start, range!.end);
      },
    } as unknown as ObjectStore;
    // Plain text is never read, however large: its size is its work.
    const listing = [{ key: 'small.gz', size: 17 }, { key: 'min.gz', size: 18 }, { key: 'fails.gz', size: 30 }, { key: 'plain.ndjson', size: 40 }, ...[...bodies.keys()].slice(2).map((key) => ({ key, size: 20 }))];
    const weighed = await withUncompressedSizes(store, listing);
    expect(weighed.slice(0, 4)).toEqual([{ key: 'small.gz', size: 17 }, { key: 'min.gz', size: 18, uncompressedSize: 100 }, { key: 'fails.gz', size: 30 }, { key: 'plain.ndjson', size: 40 }]);
    expect(weighed.slice(4).map((object) => object.uncompressedSize)).toEqual(Array.from({ length: 40 }, () => 100));
    expect(reads).not.toContain('small.gz');
    expect(reads).not.toContain('plain.ndjson');
    expect(most).toBe(16);
  });

  it('takes ISIZE up to deflate’s 1032:1, and above it the compressed size', () => {
    expect(estimateUncompressed(10 * 1032, 10)).toBe(10_320);
    expect(estimateUncompressed(10 * 1032 + 1, 10)).toBe(10);
    expect(estimateUncompressed(3, 10)).toBe(10);
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
