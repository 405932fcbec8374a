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
import type { StoredObject } from '../src/store/object-store.ts';
import { collectingHandler, tempDir, testAttempt, writeCorpus } from './helpers/corpus.ts';

async function planOf(store: DirStore, partitions: number): Promise<readonly Partition[]> {
  const listing: StoredObject[] = [];
  for await (const object of store.list()) listing.push(object);
  return planPartitions(listing, { sizing: { partitions }, maxPartitions: 100 }).partitions;
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

  it('reads gzip objects whole and strips a UTF-8 byte-order mark', async () => {
    const { source, base } = await fixture({ 'a.txt.gz': gzipSync('\ufeffone\ntwo'), 'b.txt': '\ufeffthree\n' });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'lines'), handler: collectingHandler() });
    expect((outcome.result as { lines: string[] }).lines).toEqual(['one', 'two', 'three']);
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

  it('reports bytes, counts and timings from the injected clock', async () => {
    const { source, base } = await fixture({ 'a.txt': 'x\n\ny\n' });
    const [partition] = await planOf(source, 1);
    const outcome = await runPartition({ ...base(partition!, 'lines'), handler: collectingHandler() });
    expect(outcome).toEqual({
      id: 0,
      status: 'succeeded',
      bytes: 5,
      records: 2,
      handed: 2,
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
