import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { RejectedRecordsError } from '../src/errors.ts';
import { checkHandler } from '../src/handler/load-handler.ts';
import { runPartition } from '../src/partition/run-partition.ts';
import type { Partition } from '../src/plan/partition-plan.ts';
import { DirStore } from '../src/store/dir-store.ts';
import type { ObjectStore } from '../src/store/object-store.ts';
import { PART_BYTES, S3Store } from '../src/store/s3-store.ts';
import { tempDir, testAttempt } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

/** A store that records the size of every piece streamed to it. */
function recordingWrites(store: ObjectStore): { store: ObjectStore; pieces: number[] } {
  const pieces: number[] = [];
  return {
    pieces,
    store: {
      uri: store.uri,
      list: () => store.list(),
      read: (key, range, identity) => store.read(key, range, identity),
      write: (key, body) => store.write(key, body),
      copy: (from, to) => store.copy(from, to),
      uriOf: (key) => store.uriOf(key),
      writer: (key) => {
        const writer = store.writer(key);
        return { ...writer, write: (chunk) => (pieces.push(Buffer.byteLength(chunk)), writer.write(chunk)) };
      },
    },
  };
}

async function badLines(count: number, width = 60): Promise<{ source: DirStore; partition: Partition; lines: string[] }> {
  const dir = await tempDir();
  const lines = Array.from({ length: count }, (_, i) => `{"not json" ${i} ${'x'.repeat(width)}`);
  const body = `${lines.join('\n')}\n`;
  await writeFile(path.join(dir, 'bad.ndjson'), body);
  return { source: new DirStore(dir), partition: { id: 0, bytes: Buffer.byteLength(body), segments: [{ key: 'bad.ndjson', start: 0, end: Buffer.byteLength(body) }] }, lines };
}

const counting = checkHandler({ processRecord: () => undefined }, 'test');

describe('rejected records are streamed to their file, not held', () => {
  it('writes them in pieces of about 1 MiB as the partition reads, and keeps only the first 10 as samples', async () => {
    const { source, partition, lines } = await badLines(20_000);
    const outputDir = await tempDir();
    const { store, pieces } = recordingWrites(new DirStore(outputDir));
    const outcome = await runPartition({ partition, format: 'ndjson', maxRejected: { percent: 100 }, source, output: testAttempt(store, partition), handler: counting });
    expect(outcome).toMatchObject({ records: lines.length, handed: 0, rejected: lines.length });
    expect(outcome.rejectedSamples).toHaveLength(10);
    const written = (await readFile(path.join(outputDir, '_sfn-fanout/runs/test-run/attempts/part-00000.test.rejected.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(written.map((line) => (JSON.parse(line) as { line: string }).line)).toEqual(lines);
    // Streamed: several writes, none much over the 1 MiB buffer (a 1 MiB read chunk's worth of rejections at most on top).
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...pieces)).toBeLessThan(4 * 1024 * 1024);
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(Buffer.byteLength(written.join('\n')) + 1);
  });

  it('stops reading once a count limit is passed, fails with the counts, and keeps the rejected records it staged', async () => {
    const { source, partition } = await badLines(10_000, 500);
    const outputDir = await tempDir();
    const failure = await runPartition({ partition, format: 'ndjson', maxRejected: { count: 5 }, source, output: testAttempt(new DirStore(outputDir), partition), handler: counting }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RejectedRecordsError);
    const { counts, message } = failure as RejectedRecordsError;
    const staged = path.join(outputDir, '_sfn-fanout/runs/test-run/attempts/part-00000.test.rejected.jsonl');
    expect(message).toContain(`Partition 0 rejected ${counts.rejected} of ${counts.records} records read before it stopped, over max-rejected 5. First: bad.ndjson at byte 0`);
    expect(message).toContain(`The rejected records are at ${staged}.`);
    // It stopped after the chunk that passed the limit (1 MiB of lines of about 520 bytes), far short of the file's 10,000.
    expect(counts.rejected).toBeGreaterThan(5);
    expect(counts.rejected).toBeLessThan(2_100);
    expect(counts).toEqual({ records: counts.rejected, handed: 0, rejected: counts.rejected });
    expect((await readFile(staged, 'utf8')).trimEnd().split('\n')).toHaveLength(counts.rejected);
  });

  it('leaves no rejected file when the partition fails for another reason', async () => {
    const { source, partition } = await badLines(10);
    const outputDir = await tempDir();
    const throwing = checkHandler({ processRecord: () => undefined, finish: () => { throw new Error('finish failed'); } }, 'test');
    await expect(runPartition({ partition, format: 'ndjson', maxRejected: { percent: 100 }, source, output: testAttempt(new DirStore(outputDir), partition), handler: throwing })).rejects.toThrow('finish failed');
    expect(existsSync(path.join(outputDir, '_sfn-fanout/runs/test-run/attempts/part-00000.test.rejected.jsonl'))).toBe(false);
  });
});

describe('an S3 object streamed in parts (s3rver)', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3(['streams']);
  });
  afterAll(async () => {
    await s3.stop();
  });

  const body = async (key: string): Promise<Buffer> => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: 'streams', Key: key }))).Body!.transformToByteArray());

  it('is a multipart upload of 8 MiB parts, and reads back byte for byte', async () => {
    const store = new S3Store(s3.client, 'streams', 'out/');
    const writer = store.writer('big.jsonl');
    // 9 MiB: one full part and a short last one.
    const pieces = Array.from({ length: 9 }, (_, i) => Buffer.alloc(1024 * 1024, 97 + i));
    for (const piece of pieces) await writer.write(piece);
    // Nothing is an object before the upload completes.
    await expect(s3.client.send(new GetObjectCommand({ Bucket: 'streams', Key: 'out/big.jsonl' }))).rejects.toThrow();
    await writer.end();
    expect((await body('out/big.jsonl')).equals(Buffer.concat(pieces))).toBe(true);
  });

  it('is one PutObject when it ends within a part, and nothing at all when aborted', async () => {
    const store = new S3Store(s3.client, 'streams', 'out/');
    const small = store.writer('small.jsonl');
    await small.write('a\n');
    await small.write('b\n');
    await small.end();
    expect((await body('out/small.jsonl')).toString()).toBe('a\nb\n');
    const dropped = store.writer('dropped.jsonl');
    await dropped.write(Buffer.alloc(PART_BYTES + 1));
    await dropped.abort();
    await expect(s3.client.send(new GetObjectCommand({ Bucket: 'streams', Key: 'out/dropped.jsonl' }))).rejects.toThrow();
  });
});
