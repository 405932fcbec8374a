import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnsupportedFeatureError } from '../src/errors.ts';
import { parseJob } from '../src/job.ts';
import { LambdaFunctionError } from '../src/lambda-error.ts';
import { runLocal, type Invoke, type LocalRunOptions } from '../src/local/local-engine.ts';
import { defaultTemplatePath } from '../src/local/template-definition.ts';
import type { BatchProgress } from '../src/report/batch-report.ts';
import { tempDir } from './helpers/corpus.ts';
import { throughGate, workerGate } from './helpers/gate.ts';
import { committedPartitions } from './helpers/run-output.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const behaviour = path.join(here, 'fixtures/behaviour-handler.ts');

/** One file per partition: equal sizes make the planner give each file its own partition. */
async function inputOf(files: string[][]): Promise<string> {
  const dir = await tempDir();
  const width = Math.max(...files.map((lines) => lines.join('\n').length)) + 1;
  for (const [index, lines] of files.entries()) {
    const body = lines.join('\n');
    await writeFile(path.join(dir, `f${index}.txt`), `${body}\n${'#'.repeat(width - body.length)}\n`);
  }
  return dir;
}

async function run(input: string, partitions: number, options: Partial<LocalRunOptions> = {}) {
  const job = parseJob({ input, output: await tempDir(), format: 'lines', partitions });
  return runLocal({ job, handler: behaviour, concurrency: 4, retryDelayMs: 1, runId: 'test-run', ...options });
}

/** Counts worker invocations per partition and the most that ran at once. */
function watchWorkers(fault?: (partitionId: number, attempt: number) => Error | undefined) {
  const attempts = new Map<number, number>();
  let inFlight = 0;
  let peak = 0;
  const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event) => {
    if (fn.module !== 'worker') return invoke(fn, event);
    const id = (event as { item: { id: number } }).item.id;
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    const error = fault?.(id, attempt);
    if (error !== undefined) throw error;
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    try {
      return await invoke(fn, event);
    } finally {
      inFlight -= 1;
    }
  };
  return { wrapInvoke, attempts, peak: () => peak };
}

describe('the local engine', () => {
  it('runs the example over the sample data and every record is counted once', async () => {
    const root = path.resolve(here, '..');
    const job = parseJob({ input: path.join(root, 'examples/log-analytics/sample'), output: await tempDir(), partitions: 6 });
    const report = await runLocal({ job, handler: path.join(root, 'examples/log-analytics/handler.ts'), concurrency: 3 });
    expect(report).toMatchObject({ engine: 'local', status: 'SUCCEEDED', totals: { partitions: 6, succeeded: 6, failed: 0, records: 15438, rejected: 0 } });
    expect((report.result as { requests: number }).requests).toBe(15438);
    expect(report.partitions.map((row) => row.records).reduce((a, b) => a! + b!)).toBe(15438);
    expect(report.plan).toMatchObject({ objects: 5, partitions: 6 });
  });

  it('reports a partition whose handler throws, and the batch succeeds while failures stay within the tolerated percentage', async () => {
    const input = await inputOf([['a'], ['b'], ['boom:disk full'], ['d']]);
    const report = await run(input, 4, { parameters: { ToleratedFailurePercentage: '25' } });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.totals).toMatchObject({ partitions: 4, succeeded: 3, failed: 1 });
    expect(report.partitions[2]).toEqual({ id: 2, status: 'failed', bytes: expect.any(Number), error: 'Error', message: 'boom in disk full' });
    // Each file is a record and its padding line: the three that succeeded are merged and committed, the failed one is not.
    expect(report.result).toEqual({ n: 6 });
    expect(await committedPartitions(report)).toEqual({ partitions: ['0', '1', '3'], failed: ['2'] });
  });

  it('fails the batch when failures pass the tolerated percentage, and still reports every partition', async () => {
    const input = await inputOf([['a'], ['b'], ['boom:disk full'], ['d']]);
    const report = await run(input, 4, { parameters: { ToleratedFailurePercentage: '24' } });
    expect(report.status).toBe('FAILED');
    expect(report.error).toEqual({ name: 'SfnFanout.ToleratedFailureExceeded', message: expect.stringContaining('More partitions failed than ToleratedFailurePercentage allows') });
    expect(report.partitions.map((row) => row.status)).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded']);
    expect(await committedPartitions(report)).toEqual({ partitions: ['0', '1', '3'], failed: ['2'] });
  });

  it('retries transient Lambda errors as the template says, and does not retry the others', async () => {
    const input = await inputOf([['a'], ['b'], ['c']]);
    const workers = watchWorkers((id, attempt) => {
      if (id === 1 && attempt <= 2) return new LambdaFunctionError('Lambda.TooManyRequestsException', 'Rate exceeded');
      if (id === 2) return new LambdaFunctionError('Lambda.ResourceNotReadyException', 'Function is not ready');
      return undefined;
    });
    const report = await run(input, 3, { wrapInvoke: workers.wrapInvoke, parameters: { ToleratedFailurePercentage: '50' } });
    expect(Object.fromEntries(workers.attempts)).toEqual({ 0: 1, 1: 3, 2: 1 });
    expect(report.partitions.map((row) => [row.status, row.error])).toEqual([
      ['succeeded', undefined],
      ['succeeded', undefined],
      ['failed', 'Lambda.ResourceNotReadyException'],
    ]);
    // The retried partition counts once.
    expect(report.result).toEqual({ n: 4 });
    expect(await committedPartitions(report)).toEqual({ partitions: ['0', '1'], failed: ['2'] });
  });

  it('honours the MaxConcurrency template parameter', async () => {
    // Workers wait at a gate the test opens one at a time: the engine alone decides how many start.
    const input = await inputOf(Array.from({ length: 6 }, (_, i) => [`p${i}`]));
    const limited = workerGate();
    const report = await throughGate(limited, 6, 2, run(input, 6, { wrapInvoke: limited.wrapInvoke, parameters: { MaxConcurrency: '2' } }));
    expect(limited.peak()).toBe(2);
    expect(report.totals).toMatchObject({ succeeded: 6, failed: 0, records: 12 });
    const unlimited = workerGate();
    await throughGate(unlimited, 6, 6, run(input, 6, { wrapInvoke: unlimited.wrapInvoke, concurrency: 6 }));
    expect(unlimited.peak()).toBe(6);
  });

  it('stops a worker past its Lambda timeout, splits the partition, and reports Sandbox.Timedout for the half that still times out', async () => {
    const input = await inputOf([['a'], ['spin:20000'], ['c']]);
    const started = Date.now();
    const report = await run(input, 3, { parameters: { WorkerTimeout: '1', ToleratedFailurePercentage: '50' } });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(report.partitions.map((row) => [row.id, row.split, row.status])).toEqual([
      [0, undefined, 'succeeded'],
      [1, '1', 'failed'],
      [1, '2', 'succeeded'],
      [2, undefined, 'succeeded'],
    ]);
    expect(report.partitions[1]).toMatchObject({ error: 'Sandbox.Timedout', message: expect.stringMatching(/^Task timed out after 1\.00 seconds: the worker ran past its Timeout \(WorkerTimeout\)/) });
    expect(await committedPartitions(report)).toEqual({ partitions: ['0', '1/2', '2'], failed: ['1/1'] });
  });

  it('completes a partition too slow for the timeout by splitting it in two, every record exactly once', async () => {
    const records = Array.from({ length: 24 }, (_, i) => `sleep:100 record ${String(i).padStart(2, '0')}`);
    const input = await tempDir();
    await writeFile(path.join(input, 'slow.txt'), `${records.join('\n')}\n`);
    const output = await tempDir();
    // 24 records at 100 ms is 2.4 s: over a 2 s timeout whole, 1.2 s a half.
    const seen: BatchProgress[] = [];
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 1 }), handler: path.join(here, 'fixtures/echo-handler.ts'), concurrency: 2, runId: 'split-run', parameters: { WorkerTimeout: '2' }, onProgress: (p) => seen.push(p) });
    expect(report.status).toBe('SUCCEEDED');
    // One planned partition, done once both halves are: not 2/1.
    expect(seen.at(-1)).toMatchObject({ total: 1, succeeded: 1, failed: 0, records: 24 });
    expect(report.partitions.map((row) => [row.id, row.split, row.status])).toEqual([[0, '1', 'succeeded'], [0, '2', 'succeeded']]);
    expect(report.totals.records).toBe(24);
    const written = [
      ...(await readFile(path.join(output, 'partitions/part-00000-1/lines.txt'), 'utf8')).trim().split('\n'),
      ...(await readFile(path.join(output, 'partitions/part-00000-2/lines.txt'), 'utf8')).trim().split('\n'),
    ];
    expect(written.sort()).toEqual([...records].sort());
  });

  it('fails with the partitioner error when the input cannot be listed', async () => {
    const missing = path.join(await tempDir(), 'missing');
    const report = await run(missing, 2);
    expect(report).toMatchObject({ status: 'FAILED', error: { name: 'StoreError', message: `Directory ${missing} cannot be read (ENOENT): check the path exists.` }, partitions: [] });
    expect(await committedPartitions(report)).toBeUndefined();
  });

  it('stops the execution and its workers when the run is cancelled', async () => {
    const input = await inputOf([['sleep:20000'], ['sleep:20000']]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1500);
    const started = Date.now();
    const report = await run(input, 2, { signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(report).toMatchObject({ status: 'FAILED', error: { name: 'ExecutionAborted' } });
    expect(await committedPartitions(report)).toBeUndefined();
  });

  it('refuses a template that uses a feature it cannot execute, before running anything', async () => {
    const dir = await tempDir();
    const template = (await readFile(defaultTemplatePath(), 'utf8')).replace("Comment: 'sfn-fanout: Partition -> Map(workers) -> Reduce'", 'QueryLanguage: JSONata');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'template.yaml'), template);
    const attempt = run(await inputOf([['a']]), 1, { template: path.join(dir, 'template.yaml') });
    await expect(attempt).rejects.toThrow(UnsupportedFeatureError);
    await expect(run(await inputOf([['a']]), 1, { template: path.join(dir, 'template.yaml') })).rejects.toThrow('the state machine uses QueryLanguage JSONata');
  });
});
