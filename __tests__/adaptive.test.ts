import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJob } from '../src/job.ts';
import { runLocal } from '../src/local/local-engine.ts';
import { THROUGHPUT_FILE, adaptSizing, measuredThroughput } from '../src/plan/adaptive-sizing.ts';
import { splitPartition } from '../src/plan/split-partition.ts';
import { tempDir } from './helpers/corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('splitting a partition that timed out', () => {
  it('cuts a splittable object at the byte midpoint', () => {
    expect(splitPartition({ id: 4, bytes: 100, segments: [{ key: 'a', start: 0, end: 60 }, { key: 'b', start: 10, end: 50 }] })).toEqual([
      { id: 4, split: '1', bytes: 50, segments: [{ key: 'a', start: 0, end: 50 }] },
      { id: 4, split: '2', bytes: 50, segments: [{ key: 'a', start: 50, end: 60 }, { key: 'b', start: 10, end: 50 }] },
    ]);
  });

  it('cuts between two objects when the midpoint falls on their boundary, leaving no empty segment', () => {
    expect(splitPartition({ id: 3, bytes: 100, segments: [{ key: 'a', start: 0, end: 50 }, { key: 'b', start: 0, end: 50 }] })).toEqual([
      { id: 3, split: '1', bytes: 50, segments: [{ key: 'a', start: 0, end: 50 }] },
      { id: 3, split: '2', bytes: 50, segments: [{ key: 'b', start: 0, end: 50 }] },
    ]);
  });

  it('never cuts a gzip object: the cut moves to the nearer object boundary', () => {
    const [first, second] = splitPartition({ id: 1, bytes: 100, segments: [{ key: 'a.txt', start: 0, end: 30 }, { key: 'b.gz', start: 0, end: 40 }, { key: 'c.txt', start: 0, end: 30 }] });
    expect(first.segments.map((s) => s.key)).toEqual(['a.txt', 'b.gz']);
    expect(second.segments).toEqual([{ key: 'c.txt', start: 0, end: 30 }]);
  });

  it('moves the cut before a gzip object whose first half holds the midpoint', () => {
    expect(splitPartition({ id: 5, bytes: 100, segments: [{ key: 'a.txt', start: 0, end: 40 }, { key: 'b.gz', start: 0, end: 40 }, { key: 'c.txt', start: 0, end: 20 }] })).toEqual([
      { id: 5, split: '1', bytes: 40, segments: [{ key: 'a.txt', start: 0, end: 40 }] },
      { id: 5, split: '2', bytes: 60, segments: [{ key: 'b.gz', start: 0, end: 40 }, { key: 'c.txt', start: 0, end: 20 }] },
    ]);
  });

  it('cuts by each segment’s length, wherever in its object the segment starts', () => {
    expect(splitPartition({ id: 7, bytes: 60, segments: [{ key: 'a', start: 100, end: 120 }, { key: 'b', start: 0, end: 40 }] })).toEqual([
      { id: 7, split: '1', bytes: 30, segments: [{ key: 'a', start: 100, end: 120 }, { key: 'b', start: 0, end: 10 }] },
      { id: 7, split: '2', bytes: 30, segments: [{ key: 'b', start: 10, end: 40 }] },
    ]);
  });

  it('refuses, with the reason and the fix, to split one gzip object or a half', () => {
    expect(() => splitPartition({ id: 2, bytes: 9, segments: [{ key: 'x.gz', start: 0, end: 9 }] })).toThrow('Partition 2 is one gzip object (x.gz) and cannot be split');
    // An even size puts the midpoint in the object's second half: the first half would hold it all.
    expect(() => splitPartition({ id: 6, bytes: 10, segments: [{ key: 'y.gz', start: 0, end: 10 }] })).toThrow('Partition 6 is one gzip object (y.gz) and cannot be split');
    expect(() => splitPartition({ id: 2, split: '1', bytes: 9, segments: [{ key: 'x', start: 0, end: 9 }] })).toThrow('Partition 2 half 1 timed out again: halves are not split further.');
  });
});

describe('sizing partitions from the previous run’s throughput', () => {
  const throughput = { bytesPerSecond: 10_000_000, runId: 'last' };

  it('lowers a target size that would take more than half the worker timeout', () => {
    expect(adaptSizing({ partitionBytes: 64 * 2 ** 20 }, 1e9, 1000, throughput, 10)).toEqual({
      sizing: { partitionBytes: 50_000_000 },
      adapted: { maxPartitionBytes: 50_000_000, bytesPerSecond: 10_000_000, fromRun: 'last' },
    });
  });

  it('raises a partition count that would make partitions too slow, within max-partitions', () => {
    expect(adaptSizing({ partitions: 2 }, 1e9, 1000, throughput, 10).sizing).toEqual({ partitions: 20 });
    expect(adaptSizing({ partitions: 2 }, 1e9, 8, throughput, 10).sizing).toEqual({ partitions: 8 });
  });

  it('leaves sizes that fit, and plans as asked without a measurement', () => {
    expect(adaptSizing({ partitionBytes: 1e6 }, 1e9, 1000, throughput, 10)).toEqual({ sizing: { partitionBytes: 1e6 } });
    expect(adaptSizing({ partitions: 2 }, 1e9, 1000, undefined, 10)).toEqual({ sizing: { partitions: 2 } });
  });

  it('measures bytes per second of worker time over the succeeded partitions', () => {
    expect(measuredThroughput([{ status: 'succeeded', bytes: 3e6, startedAt: 0, finishedAt: 1000 }, { status: 'succeeded', bytes: 1e6, startedAt: 5, finishedAt: 1005 }, { status: 'failed', bytes: 9e9 }], 'r')).toEqual({ bytesPerSecond: 2e6, runId: 'r' });
  });

  it('adapts only when it must: a size or count that just fits stays as asked, and a run with no speed or no bytes changes nothing', () => {
    // 10 MB/s for half of 10 s: 50,000,000 bytes a partition at most; 1e9 bytes need 20 partitions.
    expect(adaptSizing({ partitionBytes: 50_000_000 }, 1e9, 1000, throughput, 10)).toEqual({ sizing: { partitionBytes: 50_000_000 } });
    expect(adaptSizing({ partitions: 20 }, 1e9, 1000, throughput, 10)).toEqual({ sizing: { partitions: 20 } });
    expect(adaptSizing({ partitions: 19 }, 1e9, 1000, throughput, 10).sizing).toEqual({ partitions: 20 });
    for (const [bytesPerSecond, timeout, total] of [[0, 10, 1e9], [10_000_000, 0, 1e9], [10_000_000, 10, 0]]) {
      expect(adaptSizing({ partitionBytes: 1e12 }, total!, 1000, { bytesPerSecond: bytesPerSecond!, runId: 'last' }, timeout!)).toEqual({ sizing: { partitionBytes: 1e12 } });
    }
    // A crawl of 1 byte/s with a 1 s timeout still leaves partitions of 1 byte, never 0.
    expect(adaptSizing({ partitionBytes: 10 }, 100, 1000, { bytesPerSecond: 1, runId: 'slow' }, 1)).toEqual({
      sizing: { partitionBytes: 1 },
      adapted: { maxPartitionBytes: 1, bytesPerSecond: 1, fromRun: 'slow' },
    });
  });

  it('measures only the partitions that succeeded with both timings, not the time a failed one ran', () => {
    const timed = { status: 'succeeded', bytes: 4e6, startedAt: 0, finishedAt: 2000 };
    expect(measuredThroughput([timed, { status: 'failed', bytes: 1e6, startedAt: 0, finishedAt: 60_000 }], 'r')).toEqual({ bytesPerSecond: 2e6, runId: 'r' });
    expect(measuredThroughput([timed, { status: 'succeeded', bytes: 5, finishedAt: 9 }, { status: 'succeeded', bytes: 5, startedAt: 3 }], 'r')).toEqual({ bytesPerSecond: 2e6, runId: 'r' });
  });

  it('measures nothing from partitions without timings, or from no bytes or no time', () => {
    expect(measuredThroughput([{ status: 'succeeded', bytes: 5, startedAt: 0 }, { status: 'succeeded', bytes: 5, finishedAt: 9 }], 'r')).toBeUndefined();
    expect(measuredThroughput([{ status: 'succeeded', bytes: 0, startedAt: 0, finishedAt: 1000 }], 'r')).toBeUndefined();
    expect(measuredThroughput([{ status: 'succeeded', bytes: 5, startedAt: 7, finishedAt: 7 }], 'r')).toBeUndefined();
    // Rounded to whole bytes per second: 2 bytes in 3 ms.
    expect(measuredThroughput([{ status: 'succeeded', bytes: 2, startedAt: 0, finishedAt: 3 }], 'r')).toEqual({ bytesPerSecond: 667, runId: 'r' });
  });

  it('a run records its throughput, and the next run plans smaller partitions from it', async () => {
    const output = await tempDir();
    const job = parseJob({ input: path.join(root, 'examples/log-analytics/sample'), output, partitions: 1 });
    const handler = path.join(root, 'examples/log-analytics/handler.ts');
    await runLocal({ job, handler, concurrency: 2 });
    const recorded = JSON.parse(await (await import('node:fs/promises')).readFile(path.join(output, THROUGHPUT_FILE), 'utf8'));
    expect(recorded).toEqual({ bytesPerSecond: expect.any(Number), runId: expect.stringMatching(/^local-/) });
    // A slow previous run (1 MB/s) and a 1 s timeout: no partition may hold more than 500 kB.
    await writeFile(path.join(output, THROUGHPUT_FILE), JSON.stringify({ bytesPerSecond: 1_000_000, runId: 'slow-run' }));
    const next = await runLocal({ job, handler, concurrency: 2, parameters: { WorkerTimeout: '1' } });
    expect(next.plan).toMatchObject({ partitions: 4, adapted: { maxPartitionBytes: 500_000, bytesPerSecond: 1_000_000, fromRun: 'slow-run' } });
    expect(next.totals.records).toBe(15438);
  });
});
