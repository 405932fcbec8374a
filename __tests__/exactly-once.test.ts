import fc from 'fast-check';
import { REJECTED_FILE, attemptKey } from '../src/partition/attempt-output.ts';
import { runPartition } from '../src/partition/run-partition.ts';
import { planPartitions } from '../src/plan/partition-plan.ts';
import { RECORD_FORMATS, type RecordFormat } from '../src/records/formats.ts';
import { S3Store } from '../src/store/s3-store.ts';
import type { ObjectStore, StoredObject } from '../src/store/object-store.ts';
import { collectingHandler, formatCorpus, tempDirStore, testAttempt, writeCorpus, type FormatCorpus } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

/** At most this many partitions a case: with the corpus's bounded sizes, a case's time is bounded too. */
const MAX_PARTITIONS = 32;

/** What every partition's handler call saw, and every line the partitions rejected. */
async function readAcrossPartitions(corpus: FormatCorpus, source: ObjectStore, destination: ObjectStore, partitionBytes: number): Promise<{ records: unknown[]; rejected: string[] }> {
  const listing: StoredObject[] = [];
  for await (const object of source.list()) listing.push(object);
  const plan = planPartitions(listing, { sizing: { partitionBytes }, maxPartitions: MAX_PARTITIONS });
  const records: unknown[] = [];
  const rejected: string[] = [];
  for (const partition of plan.partitions) {
    const output = testAttempt(destination, partition);
    const outcome = await runPartition({ partition, format: corpus.format, maxRejected: { count: Number.MAX_SAFE_INTEGER }, source, output, handler: collectingHandler() });
    records.push(...(outcome.result as { lines: unknown[] }).lines);
    if (outcome.rejected > 0) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of destination.read(attemptKey(output.ref, REJECTED_FILE))) chunks.push(chunk);
      const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(outcome.rejected);
      rejected.push(...lines.map((line) => (JSON.parse(line) as { line: string }).line));
    }
  }
  return { records, rejected };
}

/** The same multiset, in any order. */
function expectSameMultiset(actual: readonly unknown[], expected: readonly unknown[]): void {
  const sorted = (values: readonly unknown[]) => values.map((value) => JSON.stringify(value)).sort();
  expect(sorted(actual)).toEqual(sorted(expected));
}

/**
 * A fixed number of cases, each a format, a corpus and a partition size. fast-check names the seed
 * and path of a failing case in its error; FC_SEED=<seed> runs the same cases again.
 */
function exactlyOnceProperty(numRuns: number, stores: (run: number) => Promise<{ source: ObjectStore; destination: ObjectStore }>) {
  let run = 0;
  const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
  const cases = fc.constantFrom(...RECORD_FORMATS).chain((format: RecordFormat) => fc.tuple(formatCorpus(format), fc.integer({ min: 1, max: 4096 })));
  return fc.assert(
    fc.asyncProperty(cases, async ([corpus, partitionBytes]) => {
      run += 1;
      const { source, destination } = await stores(run);
      await writeCorpus(source, corpus.files);
      const seen = await readAcrossPartitions(corpus, source, destination, partitionBytes);
      expectSameMultiset(seen.records, corpus.records);
      expectSameMultiset(seen.rejected, corpus.rejected);
    }),
    { numRuns, ...(seed === undefined ? {} : { seed }) },
  );
}

describe('every record reaches exactly one handler call, and every line that cannot be read is rejected exactly once', () => {
  it('in a local directory, for any files in any format and any partition size', async () => {
    await exactlyOnceProperty(120, async () => ({ source: await tempDirStore(), destination: await tempDirStore() }));
  });

  describe('in S3 (s3rver on loopback, real SDK client)', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['fanout-input', 'fanout-output']);
    });
    afterAll(async () => s3.stop());

    it('for any files in any format and any partition size', async () => {
      await exactlyOnceProperty(30, async (run) => ({
        source: new S3Store(s3.client, 'fanout-input', `run-${run}/`),
        destination: new S3Store(s3.client, 'fanout-output', `run-${run}/`),
      }));
    });

    it('when one record is longer than many partitions', async () => {
      const long = 'x'.repeat(300_000);
      const corpus: FormatCorpus = { format: 'lines', files: [{ key: 'big.txt', body: Buffer.from(`first\n${long}\nlast`) }], records: [], rejected: [] };
      const source = new S3Store(s3.client, 'fanout-input', 'long-record/');
      await writeCorpus(source, corpus.files);
      const seen = await readAcrossPartitions(corpus, source, new S3Store(s3.client, 'fanout-output', 'long-record/'), 10_000);
      expect(seen.records).toEqual(['first', long, 'last']);
    });
  });

  it('when a partition boundary falls inside a multi-byte UTF-8 character', async () => {
    const text = '€€€\n😀😀\nnaïve\n';
    const corpus: FormatCorpus = { format: 'lines', files: [{ key: 'utf8.txt', body: Buffer.from(text) }], records: [], rejected: [] };
    const source = await tempDirStore();
    await writeCorpus(source, corpus.files);
    for (let size = 1; size <= Buffer.byteLength(text); size += 1) {
      const seen = await readAcrossPartitions(corpus, source, await tempDirStore(), size);
      expect(seen.records).toEqual(['€€€', '😀😀', 'naïve']);
    }
  });
});
