import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnsupportedFeatureError } from '../src/errors.ts';
import { parseJob } from '../src/job.ts';
import { runLocal } from '../src/local/local-engine.ts';
import { assertDistributedMapRunsLocally } from '../src/local/distributed-map.ts';
import { partitionResults } from '../src/partition/outcome.ts';
import { mapResultsOf, readMapRunResults, type ResultManifest } from '../src/steps/map-run-results.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { tempDir } from './helpers/corpus.ts';
import { throughGate, workerGate } from './helpers/gate.ts';
import { committedPartitions } from './helpers/run-output.ts';
import type { BatchProgress } from '../src/report/batch-report.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const here = path.dirname(fileURLToPath(import.meta.url));
const sample = path.join(root, 'examples/log-analytics/sample');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const DISTRIBUTED = { MapMode: 'DISTRIBUTED' };

describe('Distributed Map, run by the local engine', () => {
  it('reads the items from the plan manifest, counts every record once, and writes results in the layout AWS documents', async () => {
    const output = await tempDir();
    const report = await runLocal({ job: parseJob({ input: sample, output, partitions: 6 }), handler: exampleHandler, concurrency: 2, parameters: DISTRIBUTED });
    expect(report).toMatchObject({ status: 'SUCCEEDED', totals: { partitions: 6, succeeded: 6, failed: 0, records: 15438 } });
    expect((report.result as { requests: number }).requests).toBe(15438);
    expect(report.plan?.manifest).toMatch(/_sfn-fanout\/plans\/[0-9a-f]{20}\.jsonl$/);

    const store = new DirStore(output);
    const keys: string[] = [];
    for await (const object of store.list()) keys.push(object.key);
    const manifestKey = keys.find((key) => /^_sfn-fanout\/map-results\/[0-9a-f-]{36}\/manifest\.json$/.test(key))!;
    const manifest = JSON.parse(await readFile(path.join(output, manifestKey), 'utf8')) as ResultManifest;
    const runDir = manifestKey.replace(/manifest\.json$/, '');
    expect(manifest).toEqual({
      DestinationBucket: 'local',
      MapRunArn: expect.stringMatching(/^arn:aws:states:local:000000000000:mapRun:local-[^/]+\/Map:[0-9a-f-]{36}$/),
      ResultFiles: { SUCCEEDED: [{ Key: `${runDir}SUCCEEDED_0.json`, Size: expect.any(Number) }], FAILED: [], PENDING: [] },
    });
    const succeeded = JSON.parse(await readFile(path.join(output, runDir, 'SUCCEEDED_0.json'), 'utf8')) as Record<string, unknown>[];
    expect(succeeded).toHaveLength(6);
    for (const record of succeeded) {
      expect(Object.keys(record).sort()).toEqual(['ExecutionArn', 'Input', 'Name', 'Output', 'StartDate', 'Status', 'StopDate']);
      expect(record.Status).toBe('SUCCEEDED');
      // As with AWS's default transformation, Input and Output are JSON-encoded strings.
      expect(JSON.parse(record.Output as string)).toMatchObject({ status: 'succeeded', records: expect.any(Number) });
      expect(JSON.parse(record.Input as string)).toMatchObject({ runId: report.runId, item: { id: expect.any(Number), segments: expect.any(Array) } });
    }
  });

  it('reports a partition whose worker fails, and applies the tolerated percentage as in Inline mode', async () => {
    const input = await tempDir();
    for (const [index, line] of ['aaaaaa', 'boom:x', 'cccccc', 'dddddd'].entries()) await writeFile(path.join(input, `f${index}.txt`), `${line}\n`);
    const job = parseJob({ input, output: await tempDir(), format: 'lines', partitions: 4 });
    const handler = path.join(here, 'fixtures/behaviour-handler.ts');
    const within = await runLocal({ job, handler, concurrency: 2, parameters: { ...DISTRIBUTED, ToleratedFailurePercentage: '25' } });
    expect(within.status).toBe('SUCCEEDED');
    expect(within.partitions.map((row) => row.status)).toEqual(['succeeded', 'failed', 'succeeded', 'succeeded']);
    expect(within.partitions[1]).toMatchObject({ error: 'Error', message: 'boom in x' });
    expect(within.result).toEqual({ n: 3 });
    expect(await committedPartitions(within)).toEqual({ partitions: ['0', '2', '3'], failed: ['1'] });
    const over = await runLocal({ job, handler, concurrency: 2, parameters: DISTRIBUTED });
    expect(over).toMatchObject({ status: 'FAILED', error: { name: 'SfnFanout.ToleratedFailureExceeded' } });
    expect(await committedPartitions(over)).toEqual({ partitions: ['0', '2', '3'], failed: ['1'] });
  });

  it('honours MaxConcurrency across child workflows', async () => {
    const input = await tempDir();
    for (let index = 0; index < 6; index += 1) await writeFile(path.join(input, `f${index}.txt`), `p${index}\n`);
    // Workers wait at a gate the test opens one at a time: the engine alone decides how many start.
    const gate = workerGate();
    const run = runLocal({ job: parseJob({ input, output: await tempDir(), format: 'lines', partitions: 6 }), handler: path.join(here, 'fixtures/behaviour-handler.ts'), concurrency: 6, wrapInvoke: gate.wrapInvoke, parameters: { ...DISTRIBUTED, MaxConcurrency: '2' } });
    const report = await throughGate(gate, 6, 2, run);
    expect(gate.peak()).toBe(2);
    expect(report.totals).toMatchObject({ succeeded: 6, failed: 0, records: 6 });
  });

  it('batches partitions into children with an ItemBatcher; a failing partition fails alone, and every record counts once', async () => {
    const input = await tempDir();
    const lines = ['aaaaaa', 'bbbbbb', 'boom:z', 'dddddd', 'eeeeee', 'ffffff', 'gggggg'];
    for (const [index, line] of lines.entries()) await writeFile(path.join(input, `f${index}.txt`), `${line}\n`);
    const output = await tempDir();
    let last: BatchProgress | undefined;
    const report = await runLocal({
      job: parseJob({ input, output, format: 'lines', partitions: 7 }),
      handler: path.join(here, 'fixtures/behaviour-handler.ts'),
      concurrency: 2,
      parameters: { ...DISTRIBUTED, ItemsPerBatch: '3', ToleratedFailurePercentage: '20' },
      onProgress: (p) => void (last = p),
    });
    expect(report.status).toBe('SUCCEEDED');
    expect(last).toMatchObject({ total: 7, succeeded: 6, failed: 1, records: 6 });
    expect(report.partitions.map((row) => row.status)).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(report.partitions[2]).toMatchObject({ error: 'Error', message: 'boom in z' });
    expect(report.totals.records).toBe(6);
    expect(await committedPartitions(report)).toEqual({ partitions: ['0', '1', '3', '4', '5', '6'], failed: ['2'] });
    const store = new DirStore(output);
    const keys: string[] = [];
    for await (const object of store.list()) keys.push(object.key);
    const succeededFile = keys.find((key) => key.endsWith('SUCCEEDED_0.json'))!;
    const children = JSON.parse(await readFile(path.join(output, succeededFile), 'utf8')) as { Input: string; Output: string }[];
    expect(children.map((child) => (JSON.parse(child.Input) as { Items: unknown[] }).Items.length)).toEqual([3, 3, 1]);
    expect(children.every((child) => Array.isArray(JSON.parse(child.Output)) && (JSON.parse(child.Input) as { BatchInput: { runId: string } }).BatchInput.runId === report.runId)).toBe(true);
  });

  it.each([
    [{ ItemBatcher: { MaxInputBytesPerBatch: 1000 } }, 'State "Work" uses ItemBatcher.MaxInputBytesPerBatch'],
    [{ ToleratedFailureCount: 3 }, 'State "Work" uses ToleratedFailureCount'],
    [{ ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2' } }, 'an ItemReader other than s3:getObject with InputType JSONL'],
  ])('refuses %j by name', (extra, message) => {
    const state = { Type: 'Map', ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' }, StartAt: 'X', States: {} }, End: true, ...extra };
    expect(() => assertDistributedMapRunsLocally('Work', state)).toThrow(UnsupportedFeatureError);
    expect(() => assertDistributedMapRunsLocally('Work', state)).toThrow(message);
  });
});

describe('the reducer on a ResultWriter layout', () => {
  const input = (id: number) => JSON.stringify({ job: {}, runId: 'r', item: { id, bytes: 100 * (id + 1), segments: [] } });

  it('takes succeeded children’s outputs, and makes failed, timed-out and never-run children failed partitions', () => {
    expect(
      mapResultsOf({
        succeeded: [
          { Status: 'SUCCEEDED', Input: input(0), Output: JSON.stringify({ id: 0, status: 'succeeded', bytes: 100, records: 5 }) },
          { Status: 'SUCCEEDED', Input: input(1), Output: JSON.stringify({ id: 1, status: 'failed', bytes: 200, error: 'Sandbox.Timedout', cause: 'x' }) },
        ],
        failed: [
          { Status: 'FAILED', Input: input(2), Error: 'States.Runtime', Cause: 'An error occurred while executing the state.' },
          { Status: 'TIMED_OUT', Input: input(3) },
        ],
        pending: [{ Status: 'PENDING', Input: input(4) }],
      }),
    ).toEqual([
      { id: 0, status: 'succeeded', bytes: 100, records: 5 },
      { id: 1, status: 'failed', bytes: 200, error: 'Sandbox.Timedout', cause: 'x' },
      { id: 2, status: 'failed', bytes: 300, error: 'States.Runtime', cause: 'An error occurred while executing the state.' },
      { id: 3, status: 'failed', bytes: 400, error: 'States.TIMED_OUT', cause: 'The child workflow ended TIMED_OUT.' },
      { id: 4, status: 'failed', bytes: 500, error: 'SfnFanout.NotRun', cause: 'The child workflow never ran (the Map run stopped first).' },
    ]);
  });

  it('reads manifest.json and every SUCCEEDED_n and FAILED_n file it lists', async () => {
    const output = await tempDir();
    const store = new DirStore(output);
    const base = '_sfn-fanout/map-results/0d5c/';
    await store.write(`${base}SUCCEEDED_0.json`, JSON.stringify([{ Status: 'SUCCEEDED', Input: input(0), Output: JSON.stringify({ id: 0, status: 'succeeded' }) }]));
    await store.write(`${base}SUCCEEDED_1.json`, JSON.stringify([{ Status: 'SUCCEEDED', Input: input(1), Output: JSON.stringify({ id: 1, status: 'succeeded' }) }]));
    await store.write(`${base}FAILED_0.json`, JSON.stringify([{ Status: 'FAILED', Input: input(2), Error: 'Lambda.Unknown', Cause: 'boom' }]));
    await store.write(
      `${base}manifest.json`,
      JSON.stringify({ DestinationBucket: 'local', MapRunArn: 'arn', ResultFiles: { SUCCEEDED: [{ Key: `${base}SUCCEEDED_0.json`, Size: 1 }, { Key: `${base}SUCCEEDED_1.json`, Size: 1 }], FAILED: [{ Key: `${base}FAILED_0.json`, Size: 1 }], PENDING: [] } }),
    );
    const job = parseJob({ input: sample, output });
    const results = await readMapRunResults(job, { ResultWriterDetails: { Bucket: 'local', Key: `${base}manifest.json` } }, { s3: () => { throw new Error('no S3'); } });
    expect(partitionResults(results).map((r) => [r.id, r.status])).toEqual([[0, 'succeeded'], [1, 'succeeded'], [2, 'failed']]);
  });
});
