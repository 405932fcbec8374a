import fc from 'fast-check';
import { runPartition } from '../src/partition/run-partition.ts';
import { planPartitions } from '../src/plan/partition-plan.ts';
import { S3Store } from '../src/store/s3-store.ts';
import type { ObjectStore, StoredObject } from '../src/store/object-store.ts';
import { collectingHandler, corpus, expectedLines, sortedCopy, tempDirStore, testAttempt, writeCorpus, type CorpusFile } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

/** Plans the corpus, runs every partition, and returns every line the handlers saw. */
async function linesSeenAcrossPartitions(source: ObjectStore, destination: ObjectStore, partitionBytes: number): Promise<string[]> {
  const listing: StoredObject[] = [];
  for await (const object of source.list()) listing.push(object);
  const plan = planPartitions(listing, { sizing: { partitionBytes }, maxPartitions: 10_000 });
  const seen: string[] = [];
  for (const partition of plan.partitions) {
    const outcome = await runPartition({
      partition,
      format: 'lines',
      maxRejected: { count: 0 },
      source,
      output: testAttempt(destination, partition),
      handler: collectingHandler(),
    });
    seen.push(...(outcome.result as { lines: string[] }).lines);
  }
  return seen;
}

const partitionBytes = fc.integer({ min: 1, max: 4096 });

describe('every record reaches exactly one handler call', () => {
  it('in a local directory, for any files and any partition size', async () => {
    await fc.assert(
      fc.asyncProperty(corpus, partitionBytes, async (files: CorpusFile[], size: number) => {
        const source = await tempDirStore();
        await writeCorpus(source, files);
        const seen = await linesSeenAcrossPartitions(source, await tempDirStore(), size);
        expect(sortedCopy(seen)).toEqual(sortedCopy(expectedLines(files)));
      }),
      { numRuns: 150, interruptAfterTimeLimit: 30_000 },
    );
  });

  describe('in S3 (s3rver on loopback, real SDK client)', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['fanout-input', 'fanout-output']);
    });
    afterAll(async () => s3.stop());

    it('for any files and any partition size', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(corpus, partitionBytes, async (files: CorpusFile[], size: number) => {
          run += 1;
          const source = new S3Store(s3.client, 'fanout-input', `run-${run}/`);
          await writeCorpus(source, files);
          const seen = await linesSeenAcrossPartitions(source, new S3Store(s3.client, 'fanout-output', `run-${run}/`), size);
          expect(sortedCopy(seen)).toEqual(sortedCopy(expectedLines(files)));
        }),
        { numRuns: 40, interruptAfterTimeLimit: 30_000 },
      );
    });

    it('when one record is longer than many partitions', async () => {
      const long = 'x'.repeat(300_000);
      const files = [{ key: 'big.txt', body: Buffer.from(`first\n${long}\nlast`) }];
      const source = new S3Store(s3.client, 'fanout-input', 'long-record/');
      await writeCorpus(source, files);
      const seen = await linesSeenAcrossPartitions(source, new S3Store(s3.client, 'fanout-output', 'long-record/'), 10_000);
      expect(seen).toEqual(['first', long, 'last']);
    });
  });

  it('when a partition boundary falls inside a multi-byte UTF-8 character', async () => {
    const text = '€€€\n😀😀\nnaïve\n';
    const source = await tempDirStore();
    await writeCorpus(source, [{ key: 'utf8.txt', body: Buffer.from(text) }]);
    for (let size = 1; size <= Buffer.byteLength(text); size += 1) {
      const seen = await linesSeenAcrossPartitions(source, await tempDirStore(), size);
      expect(seen).toEqual(['€€€', '😀😀', 'naïve']);
    }
  });
});
