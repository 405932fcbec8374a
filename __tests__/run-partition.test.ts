import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { checkHandler } from '../src/handler/load-handler.ts';
import type { FanoutRecord, PartitionContext } from '../src/handler/api.ts';
import { commitAttempt } from '../src/partition/commit.ts';
import { runPartition, type PartitionRun } from '../src/partition/run-partition.ts';
import { planPartitions, type Partition } from '../src/plan/partition-plan.ts';
import type { RecordFormat } from '../src/records/formats.ts';
import { DirStore } from '../src/store/dir-store.ts';
import type { ObjectStore, StoredObject } from '../src/store/object-store.ts';
import { collectingHandler, tempDir, testAttempt, writeCorpus } from './helpers/corpus.ts';

async function planOf(store: DirStore, partitions: number): Promise<readonly Partition[]> {
  const listing: StoredObject[] = [];
  for await (const object of store.list()) listing.push(object);
  return planPartitions(listing, { sizing: { partitions }, maxPartitions: 100 }).partitions;
}

/** A store that counts the bytes its reads yielded, by key. */
function countingBytes(store: ObjectStore): { store: ObjectStore; bytes: Map<string, number> } {
  const bytes = new Map<string, number>();
  async function* read(key: string, range?: Parameters<ObjectStore['read']>[1], identity?: string): AsyncGenerator<Uint8Array> {
    for await (const chunk of store.read(key, range, identity)) {
      bytes.set(key, (bytes.get(key) ?? 0) + chunk.byteLength);
      yield chunk;
    }
  }
  return { bytes, store: { uri: store.uri, list: () => store.list(), read, write: (k, b) => store.write(k, b), copy: (from, to) => store.copy(from, to), uriOf: (k) => store.uriOf(k) } };
}

async function fixture(files: Record<string, string | Buffer>) {
  const source = new DirStore(await tempDir());
  const outputDir = await tempDir();
  await writeCorpus(source, Object.entries(files).map(([key, body]) => ({ key, body: Buffer.from(body) })));
  const base = (partition: Partition, format: RecordFormat, attempt = 'test'): Omit<PartitionRun, 'handler'> => ({
    partition,
    format,
    maxRejected: { count: 0 },
    source,
    output: testAttempt(new DirStore(outputDir), partition, attempt),
    now: () => 1000,
  });
  return { source, outputDir, base };
}

describe('the worker runtime', () => {
  it('gives every CSV partition the header field names, and never passes the header as a record', async () => {
    const csv = 'id,name,note\n1,ann,"says ""hi"", twice"\r\n2,bob,plain\n3,cy,\n';
    const { source, base } = await fixture({ 'people.csv': csv });
    const records: unknown[] = [];
    for (const partition of await planOf(source, 5)) {
      const outcome = await runPartition({ ...base(partition, 'csv'), handler: collectingHandler() });
      records.push(...(outcome.result as { lines: unknown[] }).lines);
    }
    expect(records).toEqual([
      { id: '1', name: 'ann', note: 'says "hi", twice' },
      { id: '2', name: 'bob', note: 'plain' },
      { id: '3', name: 'cy', note: '' },
    ]);
  });

  it('refuses a CSV object whose first line is blank, by name, in every partition of it: its header is not found further down', async () => {
    const { source, base } = await fixture({ 'a.csv': `\r\nid,v\n${Array.from({ length: 30 }, (_, i) => `${i},x`).join('\n')}\n` });
    const partitions = await planOf(source, 3);
    expect(partitions).toHaveLength(3);
    for (const partition of partitions) {
      await expect(runPartition({ ...base(partition, 'csv'), handler: collectingHandler() })).rejects.toThrow(
        `${source.uriOf('a.csv')} starts with a blank line, but with format csv an object's first line is its header. Remove the blank line(s) before the header.`,
      );
    }
  });

  it('reads gzip objects whole and strips a UTF-8 byte-order mark', async () => {
    const { source, base } = await fixture({ 'a.txt.gz': gzipSync('\ufeffone\ntwo'), 'b.txt': '\ufeffthree\n' });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'lines'), handler: collectingHandler() });
    expect((outcome.result as { lines: string[] }).lines).toEqual(['one', 'two', 'three']);
  });

  it('reads a gzipped CSV whole, taking its header from the decompressed text', async () => {
    const { source, base } = await fixture({ 'a.csv.gz': gzipSync('\ufeffid,name\r\n1,ann\r\n2,bob\r\n'), 'b.csv': 'name,id\n"cy, jr",3\n' });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'csv'), handler: collectingHandler() });
    expect((outcome.result as { lines: unknown[] }).lines).toEqual([
      { id: '1', name: 'ann' },
      { id: '2', name: 'bob' },
      { name: 'cy, jr', id: '3' },
    ]);
  });

  it('takes a byte-order mark off the start of a file only: a later line keeps its U+FEFF, and a partial mark is text', async () => {
    // Each differs from the mark EF BB BF in one byte; Node's own UTF-8 decoder says what they read as.
    const partial = [[0xef, 0xbb, 0x78, 0x79], [0xef, 0x41, 0xbf, 0x42], [0x78, 0xbb, 0xbf, 0x43], [0xef]].map((bytes) => Buffer.from(bytes));
    const { source, base } = await fixture({ 'a.txt': '\ufeffone\n\ufefftwo\n', ...Object.fromEntries(partial.map((bytes, i) => [`b${i}.txt`, Buffer.concat([bytes, Buffer.from('\n')])])) });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'lines'), handler: collectingHandler() });
    expect((outcome.result as { lines: string[] }).lines).toEqual(['one', '\ufefftwo', ...partial.map((bytes) => bytes.toString('utf8'))]);
  });

  it('reads its own bytes and the one before; past its end only the rest of its last record, and nothing when that record ends at its end', async () => {
    // 2,000 records of 100 bytes: 4 partitions end on record boundaries, 7 cut records.
    const body = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(5, '0')} ${'x'.repeat(93)}\n`).join('');
    const { source, base } = await fixture({ 'big.txt': body });
    for (const count of [4, 7]) {
      for (const partition of await planOf(source, count)) {
        const counted = countingBytes(source);
        const outcome = await runPartition({ ...base(partition, 'lines'), source: counted.store, handler: collectingHandler() });
        const { start, end } = partition.segments[0]!;
        const read = counted.bytes.get('big.txt')!;
        const before = start === 0 ? 0 : 1;
        if (end % 100 === 0) expect(read).toBe(end - start + before);
        else expect([read >= end - start + before + (100 - (end % 100)), read <= end - start + before + 64 * 1024]).toEqual([true, true]);
        // Every record whose first byte is in the range, and no other.
        expect(outcome.records).toBe(Math.ceil(end / 100) - Math.ceil(start / 100));
      }
    }
  });

  it('rejects NDJSON lines that do not parse and records that make the handler throw, keeping samples and every rejected line in the attempt', async () => {
    const { source, outputDir, base } = await fixture({ 'x.ndjson': '{"n":1}\nnot json\n{"n":-2}\n{"n":3}\n' });
    const handler = checkHandler(
      {
        init: () => ({ total: 0 }),
        processRecord(state: { total: number }, record: { n: number }) {
          if (record.n < 0) throw new Error('n must not be negative');
          state.total += record.n;
        },
      },
      'test',
    );
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'ndjson'), maxRejected: { count: 2 }, handler });
    expect(outcome).toMatchObject({ records: 4, rejected: 2, result: { total: 4 } });
    expect(outcome.rejectedSamples).toEqual([
      { key: 'x.ndjson', offset: 8, message: expect.stringContaining('JSON') },
      { key: 'x.ndjson', offset: 17, message: 'n must not be negative' },
    ]);
    const deadLetter = (await readFile(path.join(outputDir, '_sfn-fanout/runs/test-run/attempts/part-00000.test.rejected.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(deadLetter.map((entry: { line: string }) => entry.line)).toEqual(['not json', '{"n":-2}']);
  });

  it('fails the partition once rejected records pass max-rejected, naming the first bad record', async () => {
    const { source, base } = await fixture({ 'x.ndjson': '{"n":1}\nbad\nworse\n' });
    const [partition] = await planOf(source, 1);
    const run = runPartition({ ...base(partition!, 'ndjson'), maxRejected: { percent: 50 }, handler: collectingHandler() });
    await expect(run).rejects.toThrow('Partition 0 rejected 2 of 3 records, over max-rejected 50%. First: x.ndjson at byte 8');
  });

  it('hands a processPartition handler every record as an async iterable', async () => {
    const { source, base } = await fixture({ 'a.ndjson': '{"v":1}\n{"v":2}\n', 'b.ndjson': '{"v":3}' });
    const handler = checkHandler(
      {
        async processPartition(records: AsyncIterable<FanoutRecord<{ v: number }>>) {
          const seen: string[] = [];
          for await (const record of records) seen.push(`${record.key}@${record.offset}=${record.value.v}`);
          return seen;
        },
      },
      'test',
    );
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'ndjson'), handler });
    expect(outcome.result).toEqual(['a.ndjson@0=1', 'a.ndjson@8=2', 'b.ndjson@0=3']);
  });

  it('stages each attempt’s outputs apart; committing publishes them under per-partition keys, so a re-run overwrites instead of duplicating', async () => {
    const { source, outputDir, base } = await fixture({ 'a.txt': 'x\ny\nz\n' });
    const handler = checkHandler(
      {
        init: () => ({ n: 0 }),
        processRecord: (state: { n: number }) => void (state.n += 1),
        async finish(state: { n: number }, context: PartitionContext) {
          await context.writeOutput('count.txt', String(state.n));
          return state;
        },
      },
      'test',
    );
    const partitions = await planOf(source, 2);
    const store = new DirStore(outputDir);
    for (const attempt of ['first', 'second']) {
      for (const partition of partitions) {
        const outcome = await runPartition({ ...base(partition, 'lines', attempt), handler });
        expect(await readdir(path.join(outputDir, `_sfn-fanout/runs/test-run/attempts/part-0000${partition.id}.${attempt}`))).toEqual(['count.txt']);
        expect(outcome).toMatchObject({ attempt, staged: ['count.txt'], outputs: [path.join(outputDir, `partitions/part-0000${partition.id}/count.txt`)] });
        await commitAttempt(store, 'test-run', outcome);
      }
    }
    expect(await readdir(path.join(outputDir, 'partitions'))).toEqual(['part-00000', 'part-00001']);
    const counts = await Promise.all(['part-00000', 'part-00001'].map((p) => readFile(path.join(outputDir, 'partitions', p, 'count.txt'), 'utf8')));
    expect(counts.map(Number).reduce((a, b) => a + b)).toBe(3);
  });

  describe('a writeOutput the handler does not await', () => {
    /** The output store with each write taking `delay(n)` ms (S3 takes a while): a write is still in flight when the handler returns. */
    function slowWrites(store: DirStore, delay: (n: number) => number = () => 20): ObjectStore {
      let writes = 0;
      return {
        uri: store.uri,
        list: () => store.list(),
        read: (key, range, identity) => store.read(key, range, identity),
        copy: (from, to) => store.copy(from, to),
        uriOf: (key) => store.uriOf(key),
        write: async (key, body) => {
          await new Promise((resolve) => setTimeout(resolve, delay(writes++)));
          await store.write(key, body);
        },
      };
    }

    async function committedLines(outputDir: string): Promise<string[]> {
      const lines: string[] = [];
      for (const part of await readdir(path.join(outputDir, 'partitions')).catch(() => [])) {
        for (const file of await readdir(path.join(outputDir, 'partitions', part))) lines.push(...(await readFile(path.join(outputDir, 'partitions', part, file), 'utf8')).split('\n').filter(Boolean));
      }
      return lines.sort();
    }

    const input = { 'a.txt': Array.from({ length: 30 }, (_, i) => `r${String(i).padStart(2, '0')}`).join('\n') + '\n' };
    const expected = input['a.txt'].split('\n').filter(Boolean);

    it('from a synchronous finish, or chunk by chunk from processPartition: every record is committed', async () => {
      const handlers = {
        finish: checkHandler(
          {
            init: () => ({ ids: [] as string[] }),
            processRecord: (state: { ids: string[] }, record: string) => void state.ids.push(record),
            finish(state: { ids: string[] }, context: PartitionContext) {
              void context.writeOutput('ids.txt', state.ids.join('\n'));
              return { n: state.ids.length };
            },
          },
          'sync-finish',
        ),
        chunks: checkHandler(
          {
            async processPartition(records: AsyncIterable<FanoutRecord<string>>, context: PartitionContext) {
              const chunk: string[] = [];
              let n = 0;
              for await (const record of records) {
                chunk.push(record.value);
                if (chunk.length === 7) void context.writeOutput(`chunk-${n++}.txt`, chunk.splice(0).join('\n'));
              }
              void context.writeOutput(`chunk-${n}.txt`, chunk.join('\n'));
              return {};
            },
          },
          'unawaited-chunks',
        ),
      };
      for (const handler of Object.values(handlers)) {
        const { source, outputDir, base } = await fixture(input);
        const output = testAttempt(slowWrites(new DirStore(outputDir)), { id: 0 });
        const [partition] = await planOf(source, 1);
        const outcome = await runPartition({ ...base(partition!, 'lines'), output, handler });
        await commitAttempt(new DirStore(outputDir), 'test-run', outcome);
        expect(await committedLines(outputDir)).toEqual(expected);
      }
    });

    it('to the same name twice: the last write started is the one committed, whichever finishes first', async () => {
      const { source, outputDir, base } = await fixture(input);
      const store = new DirStore(outputDir);
      // The first write is slow, the second fast: the first must still not land over the second.
      const output = testAttempt(slowWrites(store, (n) => (n === 0 ? 40 : 1)), { id: 0 });
      const handler = checkHandler(
        {
          processRecord: () => {},
          finish(_state: unknown, context: PartitionContext) {
            void context.writeOutput('out.txt', 'first\n');
            void context.writeOutput('out.txt', 'last\n');
            return {};
          },
        },
        'same-name',
      );
      const [partition] = await planOf(source, 1);
      await commitAttempt(store, 'test-run', await runPartition({ ...base(partition!, 'lines'), output, handler }));
      expect(await committedLines(outputDir)).toEqual(['last']);
    });
  });

  it('refuses an output name with a backslash, so a\\b.txt and a/b.txt never become one file', async () => {
    const { source, outputDir, base } = await fixture({ 'a.txt': 'x\ny\n' });
    const handler = checkHandler(
      {
        processRecord: () => {},
        async finish(_state: unknown, context: PartitionContext) {
          await context.writeOutput('a/b.txt', 'slash\n');
          await context.writeOutput('a\\b.txt', 'backslash\n');
          return {};
        },
      },
      'two-names',
    );
    const [partition] = await planOf(source, 1);
    await expect(runPartition({ ...base(partition!, 'lines'), handler })).rejects.toThrow('Output name "a\\b.txt" has a backslash: use / to make folders');
    // Only the first name was staged, under its own key, with its own content.
    expect(await readFile(path.join(outputDir, '_sfn-fanout/runs/test-run/attempts/part-00000.test/a/b.txt'), 'utf8')).toBe('slash\n');
  });

  it('reports bytes, counts and timings from the injected clock', async () => {
    const { source, base } = await fixture({ 'a.txt': 'x\n\ny\n' });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'lines'), handler: collectingHandler() });
    expect(outcome).toEqual({
      id: 0,
      status: 'succeeded',
      bytes: 5,
      records: 2,
      rejected: 0,
      rejectedSamples: [],
      outputs: [],
      staged: [],
      attempt: 'test',
      startedAt: 1000,
      finishedAt: 1000,
      result: { lines: ['x', 'y'] },
    });
  });
});
