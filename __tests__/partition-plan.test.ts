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
  const covered = new Map<string, [number, number][]>();
  for (const partition of plan.partitions) {
    expect(partition.bytes).toBe(partition.segments.reduce((sum, s) => sum + s.end - s.start, 0));
    for (const segment of partition.segments) {
      expect(segment.end).toBeGreaterThan(segment.start);
      covered.set(segment.key, [...(covered.get(segment.key) ?? []), [segment.start, segment.end]]);
    }
  }
  for (const object of listing.filter((o) => o.size > 0)) {
    const ranges = (covered.get(object.key) ?? []).sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [start, end] of ranges) {
      expect(start).toBe(next);
      next = end;
    }
    expect(next).toBe(object.size);
  }
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

  it('returns a valid empty plan for an empty source or only empty objects', () => {
    expect(planPartitions([], { sizing: { partitions: 4 }, maxPartitions: 10 })).toEqual({ objects: 0, bytes: 0, partitions: [] });
    expect(planPartitions([{ key: 'empty.txt', size: 0 }], { sizing: { partitions: 4 }, maxPartitions: 10 })).toEqual({
      objects: 1,
      bytes: 0,
      partitions: [],
    });
  });

  it('caps the partition count at max-partitions and says so', () => {
    const plan = planPartitions([{ key: 'a', size: 1000 * MiB }], { sizing: { partitionBytes: MiB }, maxPartitions: 50 });
    expect(plan.partitions).toHaveLength(50);
    expect(plan.cappedAt).toBe(50);
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
