import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { outputName, partitionLabel, partitionOutputKey, partitionResults, rejectedKey, type MapResult } from '../src/partition/outcome.ts';
import { partitionShortfall, planPartitions, type PartitionPlan, type Segment } from '../src/plan/partition-plan.ts';
import { renderPlan } from '../src/plan/render-plan.ts';
import { csvDecoder, lineText, linesDecoder, ndjsonDecoder, parseCsvLine } from '../src/records/formats.ts';
import { firstLine, segmentLines } from '../src/records/segment-lines.ts';
import { splitLines } from '../src/records/split-lines.ts';
import { parseLocation } from '../src/location.ts';
import type { ByteRange, ObjectStore } from '../src/store/object-store.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir, tempDirStore } from './helpers/corpus.ts';

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

  it('yields, for each chunk, the lines it completes as one batch, and nothing for a chunk that completes none', async () => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (const chunk of ['ab', 'c\nd', 'e', '\nf\ng\n']) yield Buffer.from(chunk);
    }
    const batches: string[][] = [];
    for await (const batch of splitLines(chunks(), { firstOffset: 0 })) batches.push(batch.map((line) => line.buffer.toString('utf8', line.start, line.end)));
    expect(batches).toEqual([['abc'], ['de', 'f', 'g']]);
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
    // A last line with no newline is dropped too when it starts before skipBefore, whatever its chunks.
    expect(await linesOf(['aa\nb', 'b'], { firstOffset: 0, skipBefore: 4 })).toEqual([]);
    // A line that starts before the end is read whole, past the end if need be.
    expect(await linesOf(['aa\nbb', 'bbbb\ncc\n'], { firstOffset: 0, stopAt: 4 })).toEqual([
      [0, 'aa'],
      [3, 'bbbbbb'],
    ]);
  });
});

describe('reading the lines of a segment', () => {
  /** A directory store holding `files`, and every range read from it. */
  async function recordingStore(files: Record<string, string | Buffer>): Promise<{ store: ObjectStore; ranges: (ByteRange | undefined)[] }> {
    const dir = await tempDirStore();
    for (const [key, body] of Object.entries(files)) await dir.write(key, body);
    const ranges: (ByteRange | undefined)[] = [];
    return { ranges, store: { uri: dir.uri, list: () => dir.list(), write: (k, b) => dir.write(k, b), writer: (k) => dir.writer(k), uriOf: (k) => dir.uriOf(k), copy: (from, to) => dir.copy(from, to), read: (key, range, identity) => (ranges.push(range), dir.read(key, range, identity)) } };
  }
  async function linesOfSegment(store: ObjectStore, segment: Segment): Promise<[number, string][]> {
    const lines: [number, string][] = [];
    for await (const batch of segmentLines(store, segment)) for (const line of batch) lines.push([line.offset, lineText(line)]);
    return lines;
  }

  it('reads from the byte before its start, and past its end only until its last line ends: 64 KiB, then ranges twice as long', async () => {
    const body = `${'a'.repeat(9)}\n${'b'.repeat(300_000)}\nc\n`;
    const { store, ranges } = await recordingStore({ 'data.txt': body });
    expect(await linesOfSegment(store, { key: 'data.txt', start: 10, end: 20 })).toEqual([[10, 'b'.repeat(300_000)]]);
    expect(ranges).toEqual([
      { start: 9, end: 20 },
      { start: 20, end: 20 + 65_536 },
      { start: 65_556, end: 65_556 + 131_072 },
      { start: 196_628, end: 196_628 + 262_144 },
    ]);
  });

  it('reads nothing past its end when a line starts right there, and a first segment from byte 0', async () => {
    const { store, ranges } = await recordingStore({ 'data.txt': 'abc\ndef\n', 'open.txt': 'abc\ndef' });
    expect(await linesOfSegment(store, { key: 'data.txt', start: 0, end: 4 })).toEqual([[0, 'abc']]);
    expect(await linesOfSegment(store, { key: 'data.txt', start: 4, end: 8 })).toEqual([[4, 'def']]);
    expect(ranges).toEqual([{ start: 0, end: 4 }, { start: 3, end: 8 }]);
    ranges.length = 0;
    // A last line without a newline: read on until a read returns nothing.
    expect(await linesOfSegment(store, { key: 'open.txt', start: 4, end: 7 })).toEqual([[4, 'def']]);
    expect(ranges).toEqual([{ start: 3, end: 7 }, { start: 7, end: 7 + 65_536 }]);
  });

  it('reads a gzip object whole, and a header as the first line of plain or gzip text, or none for an empty object', async () => {
    const { store, ranges } = await recordingStore({ 'a.csv.gz': gzipSync('id,n\r\n1,2\n'), 'b.csv': 'id,n\n3,4\n', 'empty.csv': '' });
    expect(await linesOfSegment(store, { key: 'a.csv.gz', start: 0, end: 5 })).toEqual([[0, 'id,n'], [6, '1,2']]);
    expect(ranges).toEqual([undefined]);
    const header = async (key: string) => {
      const line = await firstLine(store, key);
      return line === undefined ? undefined : [line.offset, lineText(line)];
    };
    expect([await header('a.csv.gz'), await header('b.csv'), await header('empty.csv')]).toEqual([[0, 'id,n'], [0, 'id,n'], undefined]);
  });
  it('fails on a truncated or corrupt gzip object naming it, where, and how much text came out; a read error passes as it is', async () => {
    const full = gzipSync(Array.from({ length: 3000 }, (_, i) => `line ${i} ${'z'.repeat(i % 50)}\n`).join(''));
    const truncated = full.subarray(0, full.length / 2);
    const { store } = await recordingStore({ 't.gz': truncated, 'c.gz': 'not gzip at all' });
    // What zlib itself inflates from the truncated stream, counted apart from the reader.
    const text = gunzipSync(truncated, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
    const failure = async (segment: Segment) =>
      linesOfSegment(store, segment).then(
        () => 'no error',
        (error: Error) => `${error.constructor.name}: ${error.message}${error.cause === undefined ? '' : ` (cause: ${(error.cause as { code?: string }).code})`}`,
      );
    expect(await failure({ key: 't.gz', start: 0, end: truncated.length })).toBe(
      `DataError: ${store.uriOf('t.gz')} ends before its gzip stream does (truncated?) near byte ${truncated.length} of the compressed object, after ${text} bytes of text. Re-create or re-upload it, or move it out of the input. (cause: Z_BUF_ERROR)`,
    );
    expect(await failure({ key: 'c.gz', start: 0, end: 15 })).toBe(
      `DataError: ${store.uriOf('c.gz')} is not valid gzip (incorrect header check) near byte 0 of the compressed object, after 0 bytes of text. Re-create or re-upload it, or move it out of the input. (cause: Z_DATA_ERROR)`,
    );
    expect(await failure({ key: 'gone.gz', start: 0, end: 15 })).toMatch(/^MissingObjectError: Cannot read /);
  });
});

describe('a line as text', () => {
  const line = (bytes: number[], offset = 0) => ({ buffer: Buffer.from([...bytes, 0x0a]), start: 0, end: bytes.length, offset });
  it('takes the byte-order mark off the first line of an object, even when the mark is all the line holds', () => {
    expect(lineText(line([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
    expect(lineText(line([0xef, 0xbb, 0xbf]))).toBe('');
    // Not at offset 0: U+FEFF is text.
    expect(lineText(line([0xef, 0xbb, 0xbf], 7))).toBe('\ufeff');
    // A line is bytes [start, end) of its buffer: a mark's last bytes after `end` are not the line's.
    expect(lineText({ buffer: Buffer.from([0x61, 0xef, 0xbb, 0xbf, 0x0a]), start: 1, end: 3, offset: 0 })).toBe(Buffer.from([0xef, 0xbb]).toString('utf8'));
  });

  it('decodes a line as text, as JSON, or as CSV fields named by the header', () => {
    const text = (value: string, offset = 5) => ({ buffer: Buffer.from(`${value}\n`), start: 0, end: Buffer.byteLength(value), offset });
    expect(linesDecoder()(text('a b'))).toBe('a b');
    expect(ndjsonDecoder()(text('{"n":[1]}'))).toEqual({ n: [1] });
    expect(() => ndjsonDecoder()(text('{"n":'))).toThrow(SyntaxError);
    const csv = csvDecoder(['id', 'note']);
    expect([csv(text('1,')), csv(text('2,"a, ""b"""')), csv(text('"3",x'))]).toEqual([
      { id: '1', note: '' },
      { id: '2', note: 'a, "b"' },
      { id: '3', note: 'x' },
    ]);
    expect(() => csv(text('1,2,3'))).toThrow('has 3 fields where the header has 2');
    expect(() => csv(text('"1,2",3,4'))).toThrow('has 3 fields where the header has 2');
  });

  it('splits a CSV line into RFC 4180 fields, and says where a line breaks the rules', () => {
    expect(parseCsvLine('')).toEqual(['']);
    expect(parseCsvLine(',')).toEqual(['', '']);
    expect(parseCsvLine('a,,b')).toEqual(['a', '', 'b']);
    expect(parseCsvLine('"",x,"y"')).toEqual(['', 'x', 'y']);
    expect(parseCsvLine('"a,b",')).toEqual(['a,b', '']);
    expect(parseCsvLine('"""",x""y')).toEqual(['"', 'x""y']);
    expect(parseCsvLine('a,"b""c""d"')).toEqual(['a', 'b"c"d']);
    expect(() => parseCsvLine('x,"ab')).toThrow('has a quoted field with no closing quote');
    expect(() => parseCsvLine('"ab"c,d')).toThrow('has text after a closing quote at column 5');
    expect(() => parseCsvLine('x,"ab" ')).toThrow('has text after a closing quote at column 7');
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
    // Exactly 100: all shown, and no "... 0 more".
    const hundred = renderPlan(planPartitions([{ key: 'big.txt', size: 100 * 1024 }], { sizing: { partitionBytes: 1024 }, maxPartitions: 120 }), { partitionBytes: 1024 }).split('\n');
    expect(hundred).toHaveLength(103);
    expect(hundred.slice(-3)).toEqual(['99            1.0 KiB         1  big.txt [101376, 102400)', '', '1 objects, 100.0 KiB in 100 partitions; max/mean 1.000']);
  });

  it('ends with why the plan has fewer partitions than asked for', () => {
    const plan = planPartitions([{ key: 'a.gz', size: 2048, uncompressedSize: 10_240 }, { key: 'b.txt', size: 1 }], { sizing: { partitions: 3 }, maxPartitions: 100 });
    expect(renderPlan(plan, { partitions: 3 })).toBe(
      [
        'partition  bytes       segments  first',
        '0             2.0 KiB         1  a.gz [0, 2048)  (gzip: one object, read whole; ~10.0 KiB uncompressed)',
        '1                 1 B         1  b.txt [0, 1)',
        '',
        '2 objects, 2.0 KiB (~10.0 KiB uncompressed) in 2 partitions; max/mean 2.000 by uncompressed size',
        '2 partitions, not the 3 asked for: gzip objects cannot be split, and they fill the others.',
      ].join('\n'),
    );
  });

  it('says why a plan has fewer partitions than asked for', () => {
    const shortfall = (listing: { key: string; size: number }[], partitions: number) => partitionShortfall(planPartitions(listing, { sizing: { partitions }, maxPartitions: 100 }), { partitions });
    expect(shortfall([{ key: 'a.gz', size: 100 }], 3)).toBe('1 partition, not the 3 asked for: a.gz is gzip, which cannot be split: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.');
    expect(shortfall([{ key: 'a.gz', size: 100 }, { key: 'b.gz', size: 90 }], 3)).toBe('2 partitions, not the 3 asked for: the input is 2 gzip objects, which cannot be split: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.');
    expect(shortfall([{ key: 'a.txt', size: 2 }], 3)).toBe('2 partitions, not the 3 asked for: the input has only 2 bytes.');
    expect(shortfall([{ key: 'a.gz', size: 100 }, { key: 'b.txt', size: 1 }], 3)).toBe('2 partitions, not the 3 asked for: gzip objects cannot be split, and they fill the others.');
    expect(shortfall([{ key: 'a.txt', size: 9 }], 3)).toBeUndefined();
    expect(shortfall([], 3)).toBeUndefined();
    // As many bytes as partitions asked for: the gzip object, not the size, is why.
    expect(shortfall([{ key: 'a.gz', size: 2 }, { key: 'b.txt', size: 1 }], 3)).toBe('2 partitions, not the 3 asked for: gzip objects cannot be split, and they fill the others.');
    // Counted by segments, not partitions: one partition holding two gzip objects.
    const twoInOne: PartitionPlan = { objects: 2, bytes: 200, partitions: [{ id: 0, bytes: 200, segments: [{ key: 'a.gz', start: 0, end: 100 }, { key: 'b.gz', start: 0, end: 100 }] }] };
    expect(partitionShortfall(twoInOne, { partitions: 3 })).toBe('1 partition, not the 3 asked for: the input is 2 gzip objects, which cannot be split: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.');
    expect(partitionShortfall(planPartitions([{ key: 'a.gz', size: 100 }], { sizing: { partitionBytes: 10 }, maxPartitions: 100 }), { partitionBytes: 10 })).toBeUndefined();
  });
});

describe('opening a store', () => {
  it('opens a directory without asking for an S3 client', async () => {
    const dir = await tempDir();
    const store = openStore(parseLocation(dir, 'output'), () => Promise.reject(new Error('no S3 for a directory')));
    await store.write('a/b.txt', 'one\n');
    const read: Uint8Array[] = [];
    for await (const chunk of store.read('a/b.txt')) read.push(chunk);
    expect(Buffer.concat(read).toString()).toBe('one\n');
  });

  it('asks for the S3 client (and loads the SDK) only when an S3 store is first used, and every call fails with why it could not', async () => {
    let asked = 0;
    const why = new Error('no credentials');
    const store = openStore(parseLocation('s3://bucket-a/logs/', 'output'), () => {
      asked += 1;
      return Promise.reject(why);
    });
    expect([store.uri, store.uriOf('x/y.txt'), asked]).toEqual(['s3://bucket-a/logs/', 's3://bucket-a/logs/x/y.txt', 0]);
    // A writer nobody used yet does not leave an unhandled rejection behind.
    const unused = store.writer('never.txt');
    const writer = store.writer('out.txt');
    await expect(store.write('k', 'v')).rejects.toBe(why);
    await expect(store.copy('k', 'k2')).rejects.toBe(why);
    await expect(writer.write('v')).rejects.toBe(why);
    await expect(writer.end()).rejects.toBe(why);
    await expect((async () => { for await (const _object of store.list()) return; })()).rejects.toBe(why);
    await expect((async () => { for await (const _chunk of store.read('k')) return; })()).rejects.toBe(why);
    expect(asked).toBe(1);
    await expect(unused.abort()).rejects.toBe(why);
  });
});
