import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PartitionContext } from '../src/handler/api.ts';
import { checkHandler, loadHandler } from '../src/handler/load-handler.ts';
import { defaultMerge } from '../src/handler/merge.ts';
import type { PartitionOutcome } from '../src/partition/outcome.ts';
import { reduceOutcomes } from '../src/partition/reduce.ts';
import { INLINE_ITEMS_BUDGET, halvesOf, inlineItems, readPlanRefs, resolvePartition, writeItems, writePlan, type PartitionRef } from '../src/plan/map-items.ts';
import { splitPartition } from '../src/plan/split-partition.ts';
import { planPartitions, type Partition } from '../src/plan/partition-plan.ts';
import { partitionStep, reduceStep, workStep } from '../src/steps/steps.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { tempDir } from './helpers/corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sample = path.join(root, 'examples/log-analytics/sample');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const noS3 = { s3: () => { throw new Error('no S3 in this test'); } };

describe('the steps of the state machine', () => {
  it('plans 1,000 partitions of a large object inline, well under the 256 KiB payload limit', async () => {
    const plan = planPartitions([{ key: 'logs/2026/11/26/app-00001.ndjson', size: 64 * 1024 ** 3 }], { sizing: { partitions: 1000 }, maxPartitions: 1000 });
    const output = await tempDir();
    const written = await writePlan(plan, new DirStore(output));
    const items = inlineItems(plan, written);
    expect(Buffer.byteLength(JSON.stringify(items))).toBeLessThan(INLINE_ITEMS_BUDGET);
    // Each item is its whole partition, and together they cut the object into 1,000 consecutive ranges
    // whose sizes differ by at most a byte.
    const size = 64 * 1024 ** 3;
    const ranges = items.map((item) => {
      const [segment, ...more] = (item as Partition).segments;
      return { id: item.id, key: segment!.key, start: segment!.start, end: segment!.end, bytes: item.bytes, more: more.length };
    });
    expect(ranges.map((range) => range.id)).toEqual(Array.from({ length: 1000 }, (_, id) => id));
    expect(new Set(ranges.map((range) => `${range.key} ${range.more}`))).toEqual(new Set(['logs/2026/11/26/app-00001.ndjson 0']));
    expect(ranges.map((range) => range.start)).toEqual([0, ...ranges.slice(0, -1).map((range) => range.end)]);
    expect(ranges.at(-1)!.end).toBe(size);
    expect([...new Set(ranges.map((range) => (range.end - range.start === range.bytes ? range.bytes : -1)))].sort()).toEqual([Math.floor(size / 1000), Math.floor(size / 1000) + 1]);
    expect(items).toEqual(plan.partitions);
    // The plan is written all the same, and nothing else: a resumed run reads the partitions it runs again from it.
    expect(await readdir(path.join(output, '_sfn-fanout/plans'))).toEqual([path.basename(written.key)]);
    expect(await readdir(output)).toEqual(['_sfn-fanout']);
    for (const ref of written.refs.slice(0, 3)) expect(await resolvePartition(ref, new DirStore(output))).toEqual(plan.partitions[ref.id]);
  });

  it('writes a larger plan as a JSONL manifest and each item reads back its own partition', async () => {
    const listing = Array.from({ length: 5000 }, (_, i) => ({ key: `tiny/${String(i).padStart(5, '0')}.ndjson`, size: 100 }));
    const plan = planPartitions(listing, { sizing: { partitions: 40 }, maxPartitions: 100 });
    const output = new DirStore(await tempDir());
    const written = await writePlan(plan, output);
    const items = inlineItems(plan, written);
    expect(written.key).toMatch(/^_sfn-fanout\/plans\/[0-9a-f]{20}\.jsonl$/);
    expect(Buffer.byteLength(JSON.stringify(items))).toBeLessThan(8 * 1024);
    const lines = (await readFile(output.uriOf(written.key), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(40);
    for (const [index, item] of items.entries()) expect(await resolvePartition(item, output)).toEqual(plan.partitions[index]);
    // A half is a reference to the same line: it reads back as that half of the partition.
    const halves = await halvesOf(items[7]!, output);
    expect(halves.map((half) => Buffer.byteLength(JSON.stringify(half)))).toEqual(halves.map(() => expect.any(Number)));
    expect(await Promise.all(halves.map((half) => resolvePartition(half, output)))).toEqual(splitPartition(plan.partitions[7]!));
  });

  it('gives Distributed Map items that do not grow with the input: 200,000 objects of 3 KB in partitions of 64 MiB', async () => {
    const listing = Array.from({ length: 200_000 }, (_, i) => ({ key: `events/2026/11/26/${String(i).padStart(6, '0')}.ndjson`, size: 3 * 1024 }));
    const output = new DirStore(await tempDir());
    const plan = planPartitions(listing, { sizing: { partitionBytes: 64 * 1024 ** 2 }, maxPartitions: 1000 });
    const written = await writePlan(plan, output);
    const lines = (await readFile(output.uriOf(await writeItems(written.refs, output)), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(plan.partitions.length);
    // A whole partition (21,845 objects) is 1.3 MB of JSON here, five times a child's 256 KiB; its item is a reference of about 100 bytes.
    expect(Math.max(...plan.partitions.map((partition) => Buffer.byteLength(JSON.stringify(partition))))).toBeGreaterThan(1_000_000);
    expect(Math.max(...lines.map((line) => Buffer.byteLength(line)))).toBeLessThan(200);
    expect(await resolvePartition(JSON.parse(lines[3]!) as PartitionRef, output)).toEqual(plan.partitions[3]);
  });

  it('points the Distributed ItemReader at those references, not at the partitions themselves', async () => {
    const input = await tempDir();
    await Promise.all(Array.from({ length: 3000 }, (_, i) => writeFile(path.join(input, `${String(i).padStart(5, '0')}.ndjson`), `${'{"n":1}\n'.repeat(384)}`)));
    const output = await tempDir();
    const partitioned = await partitionStep({ request: { input, output }, runId: 'wide', settings: { mapMode: 'DISTRIBUTED' } }, noS3);
    expect(partitioned.plan.partitions).toBe(1);
    // What the ItemReader reads: one child's input a line.
    const lines = (await readFile(path.join(output, partitioned.manifest!.key), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(Buffer.byteLength(lines[0]!)).toBeLessThan(200);
    expect((await resolvePartition(JSON.parse(lines[0]!) as PartitionRef, new DirStore(output))).segments).toHaveLength(3000);
  });

  it('runs the example over the sample data: partition, work every partition, reduce', async () => {
    const output = await tempDir();
    const partitioned = await partitionStep({ request: { input: sample, output, partitions: 4 }, runId: 'exec-1', settings: { toleratedFailurePercentage: '0' } }, noS3);
    expect(partitioned.plan).toMatchObject({ objects: 5, partitions: 4 });
    const deps = { ...noS3, handler: () => loadHandler(exampleHandler) };
    const { job, runId } = partitioned;
    const summaries = [];
    for (const item of partitioned.partitions) summaries.push(await workStep({ job, runId, item }, deps));
    expect(Buffer.byteLength(JSON.stringify(summaries[0]))).toBeLessThan(200);
    const batch = await reduceStep({ job, runId, plan: partitioned.plan, partitions: summaries, toleratedFailurePercentage: 0 }, deps);
    expect(batch).toMatchObject({ status: 'SUCCEEDED', partitions: 4, succeeded: 4, failed: 0, records: 15438, handed: 15438, rejected: 0 });
    // The merged result goes to the batch file, never through the state machine.
    expect(batch).not.toHaveProperty('result');
    const written = JSON.parse(await readFile(path.join(output, '_sfn-fanout/runs/exec-1/batch.json'), 'utf8'));
    const stats = written.result as { requests: number; byStatus: Record<string, number>; latencyMs: { p50: number } };
    expect(stats.requests).toBe(15438);
    expect(Object.values(stats.byStatus).reduce((a, b) => a + b)).toBe(15438);
    expect(stats.latencyMs.p50).toBeGreaterThan(20);
    expect(written).toMatchObject({ runId: 'exec-1', status: 'SUCCEEDED', records: 15438 });
    expect(written.outcomes.map((o: { id: number; records: number }) => o.id)).toEqual([0, 1, 2, 3]);
  });
});

describe('the plan manifest and the references into it', () => {
  const plan = planPartitions([{ key: 'a.ndjson', size: 30 }, { key: 'b.ndjson.gz', size: 20, uncompressedSize: 50 }, { key: 'c.ndjson', size: 10 }], { sizing: { partitions: 3 }, maxPartitions: 10 });
  const lineBytes = plan.partitions.reduce((sum, partition) => sum + Buffer.byteLength(JSON.stringify(partition)) + 1, 0);

  it('writes one partition a line under its content hash, and a reference to each line’s bytes', async () => {
    const output = new DirStore(await tempDir());
    const written = await writePlan(plan, output);
    const body = await readFile(output.uriOf(written.key));
    expect(written.key).toBe(`_sfn-fanout/plans/${createHash('sha256').update(body).digest('hex').slice(0, 20)}.jsonl`);
    expect(body.length).toBe(lineBytes);
    expect(written.refs.map(({ id, bytes, manifest }) => ({ id, bytes, line: JSON.parse(body.toString('utf8', manifest.start, manifest.end)), newline: body[manifest.end], key: manifest.key }))).toEqual(
      plan.partitions.map((partition) => ({ id: partition.id, bytes: partition.bytes, line: partition, newline: 0x0a, key: written.key })),
    );
    expect(written.refs[0]!.manifest.start).toBe(0);
    expect(written.refs.slice(1).map((ref) => ref.manifest.start)).toEqual(written.refs.slice(0, -1).map((ref) => ref.manifest.end + 1));
    // Another run reads the same references back, and a manifest cut before its last newline still holds its last line.
    expect(await readPlanRefs(output, written.key)).toEqual(written.refs);
    await output.write('cut.jsonl', body.subarray(0, body.length - 1));
    expect((await readPlanRefs(output, 'cut.jsonl')).map((ref) => ref.manifest)).toEqual(written.refs.map((ref) => ({ ...ref.manifest, key: 'cut.jsonl' })));
    // The Distributed Map's items: one reference a line, under the hash of those lines.
    const itemsKey = await writeItems(written.refs, output);
    const items = await readFile(output.uriOf(itemsKey), 'utf8');
    expect(itemsKey).toBe(`_sfn-fanout/plans/${createHash('sha256').update(items).digest('hex').slice(0, 20)}.items.jsonl`);
    expect(items.split('\n')).toEqual([...written.refs.map((ref) => JSON.stringify(ref)), '']);
  });

  it('keeps the partitions inline up to the budget, counting a newline each, and refers to them one byte over', async () => {
    const written = await writePlan(plan, new DirStore(await tempDir()));
    expect(inlineItems(plan, written, lineBytes)).toEqual(plan.partitions);
    expect(inlineItems(plan, written, lineBytes - 1)).toEqual(written.refs);
  });

  it('resolves a half by its reference, and refuses a line that holds another partition or a half that does not exist', async () => {
    const output = new DirStore(await tempDir());
    const written = await writePlan(plan, output);
    // Partition 2 holds the end of a.ndjson and all of c.ndjson, 10 bytes each.
    const ref = written.refs[2]!;
    const halves = await halvesOf(ref, output);
    expect(halves).toEqual([
      { id: 2, split: '1', bytes: 10, manifest: ref.manifest },
      { id: 2, split: '2', bytes: 10, manifest: ref.manifest },
    ]);
    expect(await Promise.all(halves.map((half) => resolvePartition(half, output)))).toEqual(splitPartition(plan.partitions[2]!));
    // An inline partition's halves are partitions.
    expect(await halvesOf(plan.partitions[2]!, output)).toEqual(splitPartition(plan.partitions[2]!));
    const other = written.refs[1]!;
    const [start, end] = [other.manifest.start, other.manifest.end];
    await expect(resolvePartition({ ...ref, manifest: other.manifest }, output)).rejects.toMatchObject({
      name: 'StoreError',
      message: `Plan manifest ${output.uriOf(written.key)} does not hold partition 2 at bytes ${start}-${end}: it was overwritten. Run the batch again.`,
    });
    await expect(resolvePartition({ ...ref, split: '3' }, output)).rejects.toMatchObject({ name: 'StoreError', message: 'Partition 2 has no half "3": halves are "1" and "2".' });
  });
});

describe('the output commit protocol', () => {
  it('stages each attempt’s outputs and rejected records apart; the reducer publishes only the attempt it counts, and lists it in the run manifest', async () => {
    const input = await tempDir();
    const output = await tempDir();
    await writeFile(path.join(input, 'a.ndjson'), '{"n":1}\n{"n":-1}\n{"n":2}\n');
    const handler = checkHandler(
      {
        init: () => ({ sum: 0 }),
        processRecord(state: { sum: number }, record: { n: number }) {
          if (record.n < 0) throw new Error('negative');
          state.sum += record.n;
        },
        async finish(state: { sum: number }, context: PartitionContext) {
          await context.writeOutput('sum.txt', String(state.sum));
          return state;
        },
      },
      'test',
    );
    const deps = { ...noS3, handler: async () => handler };
    const { job, runId, plan, partitions } = await partitionStep({ request: { input, output, format: 'ndjson', partitions: 1, maxRejected: 1 }, runId: 'commit-1' }, noS3);
    // Two attempts at partition 0, as when the first was given up on: only the second is counted.
    const [uncounted, counted] = [await workStep({ job, runId, item: partitions[0]! }, deps), await workStep({ job, runId, item: partitions[0]! }, deps)];
    expect(uncounted.attempt).not.toBe(counted.attempt);
    expect([existsSync(path.join(output, 'partitions')), existsSync(path.join(output, 'rejected'))]).toEqual([false, false]);
    expect((await readdir(path.join(output, '_sfn-fanout/runs/commit-1/attempts'))).sort()).toEqual(
      [uncounted, counted].flatMap(({ attempt }) => [`part-00000.${attempt}`, `part-00000.${attempt}.json`, `part-00000.${attempt}.rejected.jsonl`]).sort(),
    );

    const batch = await reduceStep({ job, runId, plan, partitions: [counted], toleratedFailurePercentage: 0 }, deps);
    expect(batch).toMatchObject({ status: 'SUCCEEDED', records: 3, rejected: 1 });
    expect(JSON.parse(await readFile(path.join(output, '_sfn-fanout/runs/commit-1/batch.json'), 'utf8'))).toMatchObject({ result: { sum: 3 } });
    expect(await readFile(path.join(output, 'partitions/part-00000/sum.txt'), 'utf8')).toBe('3');
    expect((await readFile(path.join(output, 'rejected/part-00000.jsonl'), 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as { line: string }).line)).toEqual(['{"n":-1}']);
    expect(JSON.parse(await readFile(path.join(output, '_sfn-fanout/runs/commit-1/manifest.json'), 'utf8'))).toEqual({
      runId: 'commit-1',
      status: 'SUCCEEDED',
      output,
      plan: plan.planKey,
      partitions: [{ id: 0, run: 'commit-1', attempt: counted.attempt, outcome: `_sfn-fanout/runs/commit-1/attempts/part-00000.${counted.attempt}.json`, outputs: ['partitions/part-00000/sum.txt'], rejected: 'rejected/part-00000.jsonl' }],
      failed: [],
      committed: ['partitions/part-00000/sum.txt', 'rejected/part-00000.jsonl'],
    });
  });
});

describe('reducing partition outcomes', () => {
  const ok = (id: number, result: unknown): PartitionOutcome => ({
    id, status: 'succeeded', attempt: 'a', bytes: 10, records: 2, handed: 2, rejected: 0, rejectedSamples: [], outputs: [], staged: [], startedAt: 0, finishedAt: 1, result,
  });
  const failed = (id: number): PartitionOutcome => ({ id, status: 'failed', bytes: 10, error: 'Error', cause: 'boom' });

  it('sums numbers, concatenates arrays and merges objects in partition order', async () => {
    const batch = await reduceOutcomes([ok(1, { n: 2, seen: ['b'], by: { x: 1 } }), ok(0, { n: 1, seen: ['a'], by: { x: 1, y: 5 } })], undefined, 0);
    expect(batch.result).toEqual({ n: 3, seen: ['a', 'b'], by: { x: 2, y: 5 } });
  });

  it('fails the batch only when failed partitions exceed the tolerated percentage', async () => {
    const outcomes = [ok(0, 1), ok(1, 1), ok(2, 1), failed(3)];
    expect(await reduceOutcomes(outcomes, undefined, 25)).toMatchObject({ status: 'SUCCEEDED', succeeded: 3, failed: 1, result: 3, failures: [{ id: 3, error: 'Error', cause: 'boom' }] });
    expect(await reduceOutcomes(outcomes, undefined, 24.9)).toMatchObject({ status: 'FAILED' });
  });

  it('succeeds with a null result for an empty batch', async () => {
    expect(await reduceOutcomes([], undefined, 0)).toMatchObject({ status: 'SUCCEEDED', partitions: 0, result: null });
  });

  it('refuses to guess between two different strings and says to export merge', () => {
    expect(() => defaultMerge({ region: 'eu' }, { region: 'us' })).toThrow('Cannot merge result.region: "eu" and "us"');
  });
});
