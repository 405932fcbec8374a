import fc from 'fast-check';
import { fillQuotas, planPartitions, type PartitionPlan } from '../src/plan/partition-plan.ts';
import type { StoredObject } from '../src/store/object-store.ts';

const MiB = 1024 * 1024;

function imbalance(sizes: readonly number[]): number {
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  return Math.max(...sizes) / mean;
}

/** Every byte of every object belongs to exactly one segment of one partition. */
function expectExactCover(listing: readonly StoredObject[], plan: PartitionPlan): void {
  // Gathered, then compared once: thousands of expect() calls would cost more than the plan.
  const problems: string[] = [];
  const covered = new Map<string, [number, number][]>();
  for (const partition of plan.partitions) {
    // A partition with nothing to read would cost a Lambda invocation for nothing.
    if (!(partition.bytes > 0)) problems.push(`partition ${partition.id} has ${partition.bytes} bytes`);
    const sum = partition.segments.reduce((total, s) => total + s.end - s.start, 0);
    if (partition.bytes !== sum) problems.push(`partition ${partition.id} says ${partition.bytes} bytes, its segments hold ${sum}`);
    for (const segment of partition.segments) {
      if (!(segment.end > segment.start)) problems.push(`empty segment ${JSON.stringify(segment)}`);
      const ranges = covered.get(segment.key) ?? [];
      ranges.push([segment.start, segment.end]);
      covered.set(segment.key, ranges);
    }
  }
  for (const object of listing.filter((o) => o.size > 0)) {
    const ranges = (covered.get(object.key) ?? []).sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [start, end] of ranges) {
      if (start !== next) problems.push(`${object.key}: a segment starts at ${start}, not ${next}`);
      next = end;
    }
    if (next !== object.size) problems.push(`${object.key}: covered to ${next} of ${object.size}`);
  }
  expect(problems).toEqual([]);
  expect(plan.partitions.map((p) => p.id)).toEqual(plan.partitions.map((_, i) => i));
}

/** One file of hundreds of MB beside thousands of tiny ones: the corpus a per-file plan handles worst. */
function skewedListing(): StoredObject[] {
  const listing: StoredObject[] = [{ key: 'huge/app.ndjson', size: 600 * MiB }];
  for (let i = 0; i < 5000; i += 1) listing.push({ key: `small/${String(i).padStart(5, '0')}.ndjson`, size: 1000 + ((i * 7919) % 9000) });
  return listing;
}

describe('partition planning', () => {
  it('balances a skewed corpus to max/mean <= 1.05, where one partition per file is far off', () => {
    const listing = skewedListing();
    const plan = planPartitions(listing, { sizing: { partitionBytes: 16 * MiB }, maxPartitions: 1000 });
    const ours = imbalance(plan.partitions.map((p) => p.bytes));
    const perFile = imbalance(listing.map((o) => o.size));
    expect(plan.partitions).toHaveLength(Math.ceil(plan.bytes / (16 * MiB)));
    expect(ours).toBeLessThanOrEqual(1.05);
    expect(perFile).toBeGreaterThan(1000);
    expectExactCover(listing, plan);
  });

  it('packs thousands of tiny files into a few partitions, reading none of them twice', () => {
    const listing = Array.from({ length: 20_000 }, (_, i) => ({ key: `t/${String(i).padStart(6, '0')}`, size: 50 + (i % 100) }));
    const plan = planPartitions(listing, { sizing: { partitions: 16 }, maxPartitions: 1000 });
    expect(plan.partitions).toHaveLength(16);
    expect(imbalance(plan.partitions.map((p) => p.bytes))).toBeLessThanOrEqual(1.05);
    expectExactCover(listing, plan);
  });

  it('keeps gzip objects whole and still balances when their sizes allow it', () => {
    const listing = [
      ...Array.from({ length: 12 }, (_, i) => ({ key: `gz/${i}.ndjson.gz`, size: (i + 1) * MiB })),
      { key: 'plain.ndjson', size: 40 * MiB },
    ];
    const plan = planPartitions(listing, { sizing: { partitions: 8 }, maxPartitions: 1000 });
    for (const partition of plan.partitions) {
      for (const segment of partition.segments.filter((s) => s.key.endsWith('.gz'))) {
        expect(segment.start).toBe(0);
        expect(segment.end).toBe(listing.find((o) => o.key === segment.key)!.size);
      }
    }
    expect(imbalance(plan.partitions.map((p) => p.bytes))).toBeLessThanOrEqual(1.05);
    expectExactCover(listing, plan);
  });

  it('puts an oversized gzip object alone and spreads the rest evenly over the others', () => {
    const listing = [{ key: 'big.gz', size: 100 }, { key: 'rest.txt', size: 60 }];
    const plan = planPartitions(listing, { sizing: { partitions: 4 }, maxPartitions: 10 });
    expect(plan.partitions.map((p) => p.bytes)).toEqual([100, 20, 20, 20]);
  });

  it('never plans an empty partition: one gzip object asked to fill 4 partitions gives 1', () => {
    const plan = planPartitions([{ key: 'day.ndjson.gz', size: 500 }], { sizing: { partitions: 4 }, maxPartitions: 10 });
    // Strict: an object listed without an identity gives segments without one (not `identity: undefined`).
    expect(plan.partitions).toStrictEqual([{ id: 0, bytes: 500, segments: [{ key: 'day.ndjson.gz', start: 0, end: 500 }] }]);
  });

  it('places whole objects heaviest first, which balances where key order would not', () => {
    // Key order would put a and c together (2) and b and d together (4); heaviest first gives 3 and 3.
    const listing = [{ key: 'a.gz', size: 1 }, { key: 'b.gz', size: 1 }, { key: 'c.gz', size: 1 }, { key: 'd.gz', size: 3 }];
    const plan = planPartitions(listing, { sizing: { partitions: 2 }, maxPartitions: 10 });
    expect(plan.partitions.map((p) => p.segments.map((s) => s.key))).toEqual([['d.gz'], ['a.gz', 'b.gz', 'c.gz']]);
  });

  it('places whole objects of equal weight in key order, so a listing in another order gets the same plan', () => {
    const plan = (listing: StoredObject[]) => planPartitions(listing, { sizing: { partitions: 2 }, maxPartitions: 10 }).partitions.map((p) => p.segments.map((s) => s.key));
    expect(plan([{ key: 'b.gz', size: 5 }, { key: 'a.gz', size: 5 }])).toEqual([['a.gz'], ['b.gz']]);
    expect(plan([{ key: 'a.gz', size: 5 }, { key: 'b.gz', size: 5 }])).toEqual([['a.gz'], ['b.gz']]);
  });

  it('gives a partition its uncompressed bytes only when they differ from the bytes it reads, and every segment its object’s identity', () => {
    const listing = [
      { key: 'a.gz', size: 10, uncompressedSize: 100, identity: 'e1' },
      { key: 'b.txt', size: 200, identity: 'e2' },
    ];
    // Work 300 over 2 partitions: the gzip one reads 10 bytes worth 100 and takes 50 plain bytes to reach 150.
    expect(planPartitions(listing, { sizing: { partitions: 2 }, maxPartitions: 10 })).toEqual({
      objects: 2,
      bytes: 210,
      uncompressedBytes: 300,
      partitions: [
        { id: 0, bytes: 60, uncompressedBytes: 150, segments: [{ key: 'a.gz', start: 0, end: 10, identity: 'e1' }, { key: 'b.txt', start: 0, end: 50, identity: 'e2' }] },
        { id: 1, bytes: 150, segments: [{ key: 'b.txt', start: 50, end: 200, identity: 'e2' }] },
      ],
    });
  });

  it('places whole objects exactly as longest-processing-time-first does, computed here by a plain scan', () => {
    /** The reference: heaviest first (key order among equals), each onto the least-loaded partition (the lowest index among equals). */
    function lpt(objects: readonly StoredObject[], count: number): string[][] {
      const bins = Array.from({ length: count }, () => ({ load: 0, keys: [] as string[] }));
      const sorted = objects.filter((o) => o.size > 0).sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1));
      for (const object of sorted) {
        const bin = bins.reduce((least, candidate) => (candidate.load < least.load ? candidate : least));
        bin.load += object.size;
        bin.keys.push(object.key);
      }
      return bins.filter((bin) => bin.keys.length > 0).map((bin) => bin.keys.sort());
    }
    const listing = fc.uniqueArray(fc.record({ key: fc.stringMatching(/^[a-z]{1,4}\.gz$/), size: fc.nat({ max: 50 }) }), { selector: (o) => o.key, maxLength: 40 });
    fc.assert(
      fc.property(listing, fc.integer({ min: 1, max: 12 }), (objects, count) => {
        const plan = planPartitions(objects, { sizing: { partitions: count }, maxPartitions: 64 });
        expect(plan.partitions.map((p) => p.segments.map((s) => s.key))).toEqual(lpt(objects, Math.min(count, plan.bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a partition’s objects in key order, whatever order their sizes placed them in', () => {
    const listing = [{ key: 'a.gz', size: 1 }, { key: 'b.gz', size: 9 }, { key: 'c.gz', size: 5 }];
    const plan = planPartitions(listing, { sizing: { partitions: 1 }, maxPartitions: 10 });
    expect(plan.partitions[0]!.segments.map((s) => s.key)).toEqual(['a.gz', 'b.gz', 'c.gz']);
  });

  it('reads a key as gzip only when it ends in .gz or .gzip (any case), and refuses only the compressed formats it names', () => {
    const halves = (key: string) => planPartitions([{ key, size: 10 }], { sizing: { partitions: 2 }, maxPartitions: 10 }).partitions.map((p) => p.segments);
    // Plain text is cut at any byte; a gzip stream is read whole.
    for (const key of ['app.gz.txt', 'by.zipcode.csv', 'notes.parquet.txt', 'gz']) expect(halves(key)).toEqual([[{ key, start: 0, end: 5 }], [{ key, start: 5, end: 10 }]]);
    for (const key of ['a.gz', 'a.GZ', 'b.gzip', 'b.GZip']) expect(halves(key)).toEqual([[{ key, start: 0, end: 10 }]]);
    for (const key of ['x.zip', 'x.ZST', 'x.parquet', 'x.bz2']) {
      expect(() => planPartitions([{ key, size: 1 }], { sizing: { partitions: 1 }, maxPartitions: 10 })).toThrow(`Cannot read "${key}"`);
    }
  });

  it('refuses an input that holds an earlier run’s bookkeeping, at its root or deeper, and reads names that only look alike', () => {
    const plan = (key: string) => planPartitions([{ key: 'data.txt', size: 4 }, { key, size: 0 }], { sizing: { partitions: 1 }, maxPartitions: 10 });
    for (const key of ['_sfn-fanout/throughput.json', 'nightly/_sfn-fanout/runs/r1/batch.json']) {
      expect(() => plan(key)).toThrow(`The input holds "${key}", a file sfn-fanout writes under an output`);
    }
    for (const key of ['my_sfn-fanout/a.txt', '_sfn-fanout.txt', 'a/_sfn-fanoutx/b']) expect(plan(key)).toMatchObject({ objects: 2, bytes: 4 });
  });

  it('returns a valid empty plan for an empty source or only empty objects', () => {
    expect(planPartitions([], { sizing: { partitions: 4 }, maxPartitions: 10 })).toEqual({ objects: 0, bytes: 0, partitions: [] });
    expect(planPartitions([{ key: 'empty.txt', size: 0 }], { sizing: { partitions: 4 }, maxPartitions: 10 })).toEqual({
      objects: 1,
      bytes: 0,
      partitions: [],
    });
  });

  it('caps the partition count at max-partitions and says so, and says nothing when the count just fits', () => {
    const plan = planPartitions([{ key: 'a', size: 1000 * MiB }], { sizing: { partitionBytes: MiB }, maxPartitions: 50 });
    expect(plan.partitions).toHaveLength(50);
    expect(plan.cappedAt).toBe(50);
    const fits = planPartitions([{ key: 'a', size: 50 * MiB }], { sizing: { partitionBytes: MiB }, maxPartitions: 50 });
    expect(fits.partitions).toHaveLength(50);
    expect(fits).not.toHaveProperty('cappedAt');
  });

  it('never makes more partitions than there are bytes', () => {
    const plan = planPartitions([{ key: 'a', size: 3 }], { sizing: { partitions: 10 }, maxPartitions: 10 });
    expect(plan.partitions.map((p) => p.bytes)).toEqual([1, 1, 1]);
  });

  it('rejects objects it cannot read, naming the object and the fix', () => {
    expect(() => planPartitions([{ key: 'logs/x.zst', size: 10 }], { sizing: { partitions: 1 }, maxPartitions: 10 })).toThrow(
      'Cannot read "logs/x.zst": only plain text and gzip (.gz) are supported.',
    );
  });

  it('covers every byte exactly once and stays balanced for any listing', () => {
    const listing = fc.uniqueArray(
      fc.record({ key: fc.string({ minLength: 1, maxLength: 8 }).map((k) => k.replace(/\.gz$/, '')), size: fc.nat({ max: 5000 }), gz: fc.boolean() }),
      { selector: (o) => o.key, maxLength: 30 },
    );
    fc.assert(
      fc.property(listing, fc.integer({ min: 1, max: 64 }), (objects, count) => {
        const files = objects.map((o) => ({ key: o.gz ? `${o.key}.gz` : o.key, size: o.size }));
        const plan = planPartitions(files, { sizing: { partitions: count }, maxPartitions: 64 });
        expectExactCover(files, plan);
        const splittableOnly = files.every((f) => !f.key.endsWith('.gz'));
        if (splittableOnly && plan.partitions.length > 0) {
          const sizes = plan.partitions.map((p) => p.bytes);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('water-fills splittable bytes over whole-object loads', () => {
    expect(fillQuotas([0, 0, 0], 10)).toEqual([4, 3, 3]);
    expect(fillQuotas([8, 0, 2], 10)).toEqual([0, 6, 4]);
    expect(fillQuotas([5, 5], 0)).toEqual([0, 0]);
  });
});
