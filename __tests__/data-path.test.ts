import { outputName, partitionLabel, partitionOutputKey, partitionResults, rejectedKey, type MapResult } from '../src/partition/outcome.ts';
import { partitionShortfall, planPartitions, type PartitionPlan } from '../src/plan/partition-plan.ts';
import { renderPlan } from '../src/plan/render-plan.ts';
import { splitLines } from '../src/records/split-lines.ts';

/** The lines `splitLines` yields for these chunks, as text with their offsets. */
async function linesOf(chunks: string[], window: Parameters<typeof splitLines>[1] = { firstOffset: 0 }): Promise<[number, string][]> {
  async function* bytes(): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) yield new Uint8Array(Buffer.from(chunk));
  }
  const lines: [number, string][] = [];
  for await (const batch of splitLines(bytes(), window)) for (const line of batch) lines.push([line.offset, line.buffer.toString('utf8', line.start, line.end)]);
  return lines;
}

describe('splitting bytes into lines', () => {
  it('joins a line across chunks, strips one CR before LF and at the end, and keeps a last line without a newline', async () => {
    expect(await linesOf(['ab', 'c\r', '\nd\r\r\n', '', 'e\r'])).toEqual([
      [0, 'abc'],
      [5, 'd\r'],
      [9, 'e'],
    ]);
    // A last newline ends the last line: no empty line after it.
    expect(await linesOf(['a\n', 'b\n'])).toEqual([
      [0, 'a'],
      [2, 'b'],
    ]);
    expect(await linesOf(['\n\r\n'])).toEqual([
      [0, ''],
      [1, ''],
    ]);
  });

  it('takes bytes that are not Node buffers (a Uint8Array view into a larger buffer)', async () => {
    const backing = Buffer.from('xxone\ntwo\nyy');
    async function* view(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(backing.buffer, backing.byteOffset + 2, 8);
    }
    const lines: string[] = [];
    for await (const batch of splitLines(view(), { firstOffset: 0 })) lines.push(...batch.map((line) => line.buffer.toString('utf8', line.start, line.end)));
    expect(lines).toEqual(['one', 'two']);
  });

  it('drops the lines that start before skipBefore, and stops at the first line starting at or after stopAt', async () => {
    // Offsets from 10: "aa" at 10, "bbb" at 13, "c" at 17, "dd" at 19.
    expect(await linesOf(['aa\nbb', 'b\nc\ndd\n'], { firstOffset: 10, skipBefore: 11, stopAt: 19 })).toEqual([
      [13, 'bbb'],
      [17, 'c'],
    ]);
    expect(await linesOf(['aa\nbbb\n'], { firstOffset: 10, skipBefore: 13, stopAt: 13 })).toEqual([]);
    // A line that starts before the end is read whole, past the end if need be.
    expect(await linesOf(['aa\nbb', 'bbbb\ncc\n'], { firstOffset: 0, stopAt: 4 })).toEqual([
      [0, 'aa'],
      [3, 'bbbbbb'],
    ]);
  });
});

describe('partition names and output keys', () => {
  it('labels a partition by its zero-padded id, and a half by id and half', () => {
    expect([partitionLabel({ id: 3 }), partitionLabel({ id: 12345, split: '2' })]).toEqual(['00003', '12345-2']);
    expect(partitionOutputKey({ id: 3, split: '1' }, 'dir/counts.json')).toBe('partitions/part-00003-1/dir/counts.json');
    expect(rejectedKey({ id: 7 })).toBe('rejected/part-00007.jsonl');
  });

  it('refuses an output name that is empty, absolute, or has "." or ".." or empty parts', () => {
    for (const name of ['', '/etc/passwd', 'a/../b', '..', './a', 'a/.', 'a//b', 'a/']) {
      expect(() => outputName(name)).toThrow(`Output name "${name}" must be a relative path without "." or ".." parts, like "counts.json".`);
    }
    // A backslash is refused, never turned into a folder: a\b.txt and a/b.txt would become one file.
    for (const name of ['\\x', 'a\\b/c.d']) expect(() => outputName(name)).toThrow(`Output name "${name}" has a backslash`);
    expect(outputName('a/b/c.d')).toBe('a/b/c.d');
  });

  it('reads every partition out of a Map result: single, split halves, batches, and a batch that failed together', () => {
    const ok = (id: number, split?: string) => ({ id, ...(split === undefined ? {} : { split }), status: 'succeeded' as const, attempt: 'a', bytes: 1, records: 1, rejected: 0, startedAt: 0, finishedAt: 1 });
    const results: MapResult[] = [
      ok(0),
      [ok(1, '1'), { id: 1, split: '2', status: 'failed', bytes: 1, error: 'E', cause: 'c' }],
      { status: 'failed', batch: [{ id: 2, bytes: 5 }, { id: 3, bytes: 6 }], error: 'States.Timeout', cause: 'late' },
    ];
    expect(partitionResults(results)).toEqual([
      ok(0),
      ok(1, '1'),
      { id: 1, split: '2', status: 'failed', bytes: 1, error: 'E', cause: 'c' },
      { id: 2, status: 'failed', bytes: 5, error: 'States.Timeout', cause: 'late' },
      { id: 3, status: 'failed', bytes: 6, error: 'States.Timeout', cause: 'late' },
    ]);
  });
});

describe('the plan as `sfn-fanout plan` prints it', () => {
  it('one row a partition with its first segment, gzip objects marked as read whole, and the balance by uncompressed size', () => {
    const plan: PartitionPlan = {
      objects: 4,
      bytes: 36_864,
      uncompressedBytes: 72_704,
      partitions: [
        { id: 0, bytes: 3072, uncompressedBytes: 20_480, segments: [{ key: 'a.gz', start: 0, end: 2048 }, { key: 'd.txt', start: 0, end: 1024 }] },
        { id: 1, bytes: 2048, uncompressedBytes: 20_480, segments: [{ key: 'b.gz', start: 0, end: 1024 }, { key: 'c.gz', start: 0, end: 1024 }] },
        { id: 2, bytes: 31_744, segments: [{ key: 'd.txt', start: 1024, end: 32_768 }] },
      ],
    };
    expect(renderPlan(plan, { partitions: 3 })).toBe(
      [
        'partition  bytes       segments  first',
        '0             3.0 KiB         2  a.gz [0, 2048)  (gzip: one object, read whole; ~20.0 KiB uncompressed)',
        '1             2.0 KiB         2  b.gz [0, 1024)  (2 gzip objects, each read whole; ~20.0 KiB uncompressed)',
        '2            31.0 KiB         1  d.txt [1024, 32768)',
        '',
        // The heaviest partition, 31,744 bytes, against a mean of 72,704 / 3.
        '4 objects, 36.0 KiB (~71.0 KiB uncompressed) in 3 partitions; max/mean 1.310 by uncompressed size',
      ].join('\n'),
    );
    expect(renderPlan({ objects: 0, bytes: 0, partitions: [] }, { partitions: 3 })).toBe('partition  bytes       segments  first\n\n0 objects, 0 B in 0 partitions; max/mean 1.000');
  });

  it('shows the first 100 partitions, says how many more there are, and names a cap', () => {
    const plan = planPartitions([{ key: 'big.txt', size: 150 * 1024 }], { sizing: { partitionBytes: 1024 }, maxPartitions: 120 });
    const lines = renderPlan(plan, { partitionBytes: 1024 }).split('\n');
    expect(lines.filter((line) => /^\d+ +[\d.]+ KiB /.test(line))).toHaveLength(100);
    expect(lines.at(-3)).toBe('... 20 more');
    expect(lines.at(-1)).toBe('1 objects, 150.0 KiB in 120 partitions; max/mean 1.000 (capped at max-partitions 120)');
  });

  it('says why a plan has fewer partitions than asked for', () => {
    const shortfall = (listing: { key: string; size: number }[], partitions: number) => partitionShortfall(planPartitions(listing, { sizing: { partitions }, maxPartitions: 100 }), { partitions });
    expect(shortfall([{ key: 'a.gz', size: 100 }], 3)).toBe('1 partition, not the 3 asked for: a.gz is gzip, which cannot be split: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.');
    expect(shortfall([{ key: 'a.gz', size: 100 }, { key: 'b.gz', size: 90 }], 3)).toBe('2 partitions, not the 3 asked for: the input is 2 gzip objects, which cannot be split: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.');
    expect(shortfall([{ key: 'a.txt', size: 2 }], 3)).toBe('2 partitions, not the 3 asked for: the input has only 2 bytes.');
    expect(shortfall([{ key: 'a.gz', size: 100 }, { key: 'b.txt', size: 1 }], 3)).toBe('2 partitions, not the 3 asked for: gzip objects cannot be split, and they fill the others.');
    expect(shortfall([{ key: 'a.txt', size: 9 }], 3)).toBeUndefined();
    expect(shortfall([], 3)).toBeUndefined();
    expect(partitionShortfall(planPartitions([{ key: 'a.gz', size: 100 }], { sizing: { partitionBytes: 10 }, maxPartitions: 100 }), { partitionBytes: 10 })).toBeUndefined();
  });
});
