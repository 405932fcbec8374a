import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RejectedRecordsError } from '../src/errors.ts';
import { checkHandler } from '../src/handler/load-handler.ts';
import { parseJob } from '../src/job.ts';
import { LambdaFunctionError } from '../src/lambda-error.ts';
import { runLocal, type Invoke, type LocalRunOptions } from '../src/local/local-engine.ts';
import { PartitionProgress } from '../src/local/partition-progress.ts';
import { buildReport, type BatchProgress, type BatchReport } from '../src/report/batch-report.ts';
import { renderConsoleReport, renderProgress } from '../src/report/console.ts';
import { resultOutput } from '../src/report/result-output.ts';
import { batchStep, type BatchFile } from '../src/steps/steps.ts';
import { tempDir } from './helpers/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** One file per partition, equal sizes so each gets its own; returns the directory and each file's lines, the independent count. */
async function inputOf(files: string[][]): Promise<{ input: string; lines: string[][] }> {
  const input = await tempDir();
  const width = Math.max(...files.map((lines) => lines.join('\n').length)) + 1;
  const lines = files.map((file) => [...file, '#'.repeat(width - file.join('\n').length)]);
  for (const [index, file] of lines.entries()) await writeFile(path.join(input, `f${index}.txt`), `${file.join('\n')}\n`);
  return { input, lines };
}

async function run(input: string, partitions: number, handler: string, options: Partial<LocalRunOptions> = {}): Promise<BatchReport> {
  return runLocal({ job: parseJob({ input, output: await tempDir(), format: 'lines', partitions }), handler: path.join(here, 'fixtures', handler), concurrency: 2, retryDelayMs: 1, ...options });
}

describe('the report tells what happened to every partition whose outcome is known', () => {
  it('a merge that fails: the reducer still writes the batch file, and the report lists every partition with its counts', async () => {
    const { input, lines } = await inputOf([['region:eu', 'a'], ['region:us', 'b', 'c'], ['d']]);
    const report = await run(input, 3, 'reducer-fault-handler.ts');
    expect(report.status).toBe('FAILED');
    expect(report.error).toEqual({ name: 'MergeError', message: expect.stringContaining('Cannot merge result.region: "eu" and "us"') });
    expect(report.partitions.map((row) => [row.id, row.status, row.records])).toEqual(lines.map((file, id) => [id, 'succeeded', file.length]));
    expect(report.totals).toMatchObject({ partitions: 3, succeeded: 3, failed: 0, records: lines.flat().length, handed: lines.flat().length, unfinished: 0 });
    expect(report).toMatchObject({ result: null, resultPartial: true });
    const batch = JSON.parse(await readFile(path.join(report.output, `_sfn-fanout/runs/${report.runId}/batch.json`), 'utf8')) as BatchFile;
    expect(batch).toMatchObject({ status: 'FAILED', error: { name: 'MergeError' }, records: lines.flat().length });
    const text = renderConsoleReport(report);
    expect(text).toContain(`FAILED: 3 partitions (3 succeeded, 0 failed), ${lines.flat().length} records read (${lines.flat().length} handed to the handler, 0 rejected)`);
    expect(text).toContain('note: there is no result: no partition’s result was merged');
    expect(text).toContain('error: MergeError: Cannot merge result.region');
  });

  it('a reducer that times out: no batch file, and the report lists the partitions the Map finished', async () => {
    const { input, lines } = await inputOf([['a'], ['b'], ['c', 'd']]);
    // The reducer's environment is lost as the pool loses one that passes its Timeout.
    const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, seconds) => {
      if (fn.module === 'reducer') throw new LambdaFunctionError('Sandbox.Timedout', 'Task timed out after 1.00 seconds');
      return invoke(fn, event, seconds);
    };
    const report = await run(input, 3, 'reducer-fault-handler.ts', { wrapInvoke });
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('Sandbox.Timedout');
    expect(report.partitions.map((row) => [row.id, row.status, row.records])).toEqual(lines.map((file, id) => [id, 'succeeded', file.length]));
    expect(report.totals).toMatchObject({ partitions: 3, succeeded: 3, records: lines.flat().length, unfinished: 0 });
    // The Map carries only each partition's attempt and count: the rest of a row is read from the attempt's outcome file.
    const sizes = await Promise.all(lines.map((_, id) => stat(path.join(input, `f${id}.txt`)).then((file) => file.size)));
    expect(report.partitions.map((row) => row.bytes)).toEqual(sizes);
    expect(report.totals.bytes).toBe(sizes.reduce((a, b) => a + b));
    expect(report.partitions.every((row) => row.durationMs !== undefined && row.lane !== undefined)).toBe(true);
    expect(report.resultPartial).toBe(true);
  });

  it('a cancelled run: the partitions that finished are listed, the rest counted as not finished, and the progress counts no failure', async () => {
    const { input, lines } = await inputOf([['a', 'b'], ['c'], ['sleep:60000'], ['e', 'f', 'g']]);
    const controller = new AbortController();
    const seen: BatchProgress[] = [];
    const report = await run(input, 4, 'behaviour-handler.ts', {
      signal: controller.signal,
      onProgress: (progress) => {
        seen.push(progress);
        if (progress.succeeded === 3) controller.abort('SIGTERM');
      },
    });
    expect(report).toMatchObject({ status: 'FAILED', error: { name: 'ExecutionAborted', message: 'The run was cancelled by SIGTERM.' } });
    expect(report.partitions.map((row) => row.id)).toEqual([0, 1, 3]);
    const finished = [lines[0]!, lines[1]!, lines[3]!].flat().length;
    expect(report.totals).toMatchObject({ partitions: 3, succeeded: 3, failed: 0, unfinished: 1, records: finished });
    expect(renderProgress(seen.at(-1)!, 1000)).toMatch(/^partitions 3\/4 done · \d running · 0 failed/);
    expect(renderConsoleReport(report)).toContain(`FAILED: 4 partitions (3 succeeded, 0 failed, 1 not finished), ${finished} records read`);
  });
});

describe('the report agrees with the run’s own files, whenever the reducer is stopped', () => {
  /** A run of the echo handler (one `lines.txt` output a partition) with a fixed run id and output, its reducer wrapped by `reducer`. */
  async function echoRun(files: string[][], reducer: (invoke: () => Promise<unknown>, output: string) => Promise<unknown>, options: Partial<LocalRunOptions> = {}) {
    const { input, lines } = await inputOf(files);
    const output = await tempDir();
    const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, seconds) => (fn.module === 'reducer' ? reducer(() => invoke(fn, event, seconds), output) : invoke(fn, event, seconds));
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: files.length }), handler: path.join(here, 'fixtures', 'echo-handler.ts'), concurrency: 2, retryDelayMs: 1, runId: 'run-1', wrapInvoke, ...options });
    return { report, lines, output, runDir: path.join(output, '_sfn-fanout/runs/run-1') };
  }
  const present = (file: string) => readFile(file).then(() => true, () => false);

  it('a reducer stopped while it publishes outputs: every partition is listed from the batch file, and the report says outputs may be in place without a manifest', async () => {
    // Publishing partition 1's output fails (a file where its folder goes): the reducer stops half way through its commit.
    const { report, lines, output, runDir } = await echoRun([['a'], ['b', 'c'], ['d']], async (invoke, out) => {
      await mkdir(path.join(out, 'partitions'), { recursive: true });
      await writeFile(path.join(out, 'partitions', 'part-00001'), 'in the way');
      return invoke();
    });
    expect(report.status).toBe('FAILED');
    expect(report.partitions.map((row) => [row.id, row.status, row.records])).toEqual(lines.map((file, id) => [id, 'succeeded', file.length]));
    expect(report.totals).toMatchObject({ partitions: 3, succeeded: 3, failed: 0, records: lines.flat().length, unfinished: 0 });
    expect(report.partlyPublished).toBe(true);
    expect(await present(path.join(runDir, 'batch.json'))).toBe(true);
    expect(await present(path.join(runDir, 'manifest.json'))).toBe(false);
    expect(await readFile(path.join(output, 'partitions/part-00001'), 'utf8')).toBe('in the way');
    expect(renderConsoleReport(report)).toContain('note: the reducer stopped before it wrote the run manifest: some of this run’s outputs may already be in partitions/');
  });

  it('a cancel that comes after the reducer committed stops nothing: the report is the run’s, as its manifest says, with a note', async () => {
    const controller = new AbortController();
    const { report, lines, runDir } = await echoRun([['a', 'b']], async (invoke) => {
      const result = await invoke();
      controller.abort('SIGTERM');
      return result;
    }, { signal: controller.signal });
    const manifest = JSON.parse(await readFile(path.join(runDir, 'manifest.json'), 'utf8')) as { status: string; partitions: unknown[] };
    expect(manifest).toMatchObject({ status: 'SUCCEEDED', partitions: [{ id: 0 }] });
    expect(report).toMatchObject({ status: manifest.status, cancelledAfterCommit: 'The run was cancelled by SIGTERM.' });
    expect([report.error, report.partlyPublished]).toEqual([undefined, undefined]);
    expect(report.totals).toMatchObject({ partitions: 1, succeeded: 1, records: lines.flat().length });
    expect(renderConsoleReport(report)).toContain('note: the cancel came after the reducer had committed the run, so it stopped nothing: The run was cancelled by SIGTERM.');
  });

  it('a batch file that cannot be read fails the report, naming the file, and never passes for a run that succeeded', async () => {
    const { report, lines, runDir } = await echoRun([['a', 'b']], async (invoke, out) => {
      const result = await invoke();
      await writeFile(path.join(out, '_sfn-fanout/runs/run-1/batch.json'), '{"status":"SUCC');
      return result;
    });
    expect(report.status).toBe('FAILED');
    expect(report.error).toEqual({ name: 'RunFilesUnreadable', message: expect.stringContaining(`Could not read the run's batch file ${path.join(runDir, 'batch.json')}, so this run's outcome is unknown: `) });
    // What the engine saw of the partitions is still listed.
    expect(report.totals).toMatchObject({ partitions: 1, succeeded: 1, records: lines.flat().length });
  });
});

describe('counts', () => {
  it('progress counts a split partition once, when both halves are done, and a failed half fails it', () => {
    const progress = new PartitionProgress();
    progress.total = 2;
    const half = (split: string, status: 'succeeded' | 'failed') =>
      status === 'succeeded'
        ? { id: 0, split, status, attempt: 'a', bytes: 5, records: 4, rejected: 0, startedAt: 0, finishedAt: 1 }
        : { id: 1, split, status, bytes: 5, error: 'Sandbox.Timedout', cause: 'x' };
    progress.finished([half('1', 'succeeded'), half('2', 'succeeded')]);
    progress.finished([{ ...half('1', 'succeeded'), id: 1 }, half('2', 'failed')]);
    expect(renderProgress(progress.snapshot(0), 1000)).toBe('partitions 2/2 done · 0 running · 1 failed · 12 records/s');
  });

  it('a partition over max-rejected that fails in a batch carries what it read, handed over and rejected into the totals', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'a.ndjson'), '{"n":1}\nnot json\n{"n":2}\nworse\nworst\n');
    const output = await tempDir();
    const job = parseJob({ input, output, partitions: 1, maxRejected: '1' });
    const item = { id: 0, bytes: 41, segments: [{ key: 'a.ndjson', start: 0, end: 41 }] };
    const [failed] = await batchStep({ BatchInput: { job, runId: 'batch-1' }, Items: [item] }, { s3: () => { throw new Error('no S3'); }, handler: async () => checkHandler({ processRecord: () => undefined }, 'test') });
    expect(failed).toMatchObject({ id: 0, status: 'failed', error: RejectedRecordsError.name, records: 5, handed: 2, rejected: 3 });
    const report = buildReport({ engine: 'local', runId: 'batch-1', input, output, format: 'ndjson', startedAt: 0, finishedAt: 1 }, undefined, { outcomes: [failed!], planned: 1 });
    expect(report.totals).toMatchObject({ partitions: 1, failed: 1, records: 5, handed: 2, rejected: 3 });
    expect(report.partitions[0]).toMatchObject({ records: 5, handed: 2, rejected: 3 });
  });

  it('the console says 1 partition, and counts in thousands like the totals', () => {
    const report = buildReport({ engine: 'local', runId: 'r', input: 'i', output: 'o', format: 'lines', startedAt: 0, finishedAt: 1000 }, undefined, {
      outcomes: Array.from({ length: 1000 }, (_, id) => ({ id, status: 'succeeded' as const, attempt: 'a', bytes: 1, records: 1, rejected: 0, startedAt: 0, finishedAt: 1 })),
      planned: 1000,
    });
    expect(renderConsoleReport(report)).toContain('SUCCEEDED: 1,000 partitions (1,000 succeeded, 0 failed), 1,000 records read (0 handed to the handler, 0 rejected)');
    const one = buildReport({ engine: 'local', runId: 'r', input: 'i', output: 'o', format: 'lines', startedAt: 0, finishedAt: 1 }, undefined, { outcomes: [{ id: 0, status: 'succeeded', attempt: 'a', bytes: 1, records: 1, rejected: 0, startedAt: 0, finishedAt: 1 }] });
    expect(renderConsoleReport(one)).toContain(': 1 partition (1 succeeded, 0 failed), 1 record read');
  });
});

describe('the console says what the totals leave out', () => {
  it('a partition count capped at max-partitions, and a partial result', () => {
    const outcome = (id: number) => ({ id, status: 'succeeded' as const, attempt: 'a', bytes: 1, records: 1, handed: 1, rejected: 0, rejectedSamples: [], outputs: [], staged: [], startedAt: 0, finishedAt: 1, result: null });
    const batch = {
      status: 'SUCCEEDED', partitions: 3, succeeded: 2, failed: 1, records: 2, handed: 2, rejected: 0, bytes: 3, toleratedFailurePercentage: 50, result: { n: 2 }, failures: [],
      runId: 'r', job: parseJob({ input: '/in', output: '/out' }), plan: { objects: 9, bytes: 3, partitions: 3, cappedAt: 3 }, manifest: 'm',
      outcomes: [outcome(0), outcome(1), { id: 2, status: 'failed' as const, bytes: 1, error: 'Error', cause: 'boom' }],
    } satisfies BatchFile;
    const text = renderConsoleReport(buildReport({ engine: 'local', runId: 'r', input: '/in', output: '/out', format: 'ndjson', startedAt: 0, finishedAt: 1 }, batch));
    expect(text).toContain('note: the result is partial: it merges 2 partitions of 3; the others failed or did not finish');
    expect(text).toContain('note: the partition count was capped at max-partitions (3), so partitions are bigger than partition-size: raise max-partitions for more, smaller ones');
  });
});

describe('the action’s result output', () => {
  it('is the result as JSON up to its cap, and past it a valid JSON pointer to the report file, marked truncated', () => {
    const result = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`key-${i}`, i]));
    expect(resultOutput({ a: 1 }, '/r.json')).toEqual({ json: '{"a":1}', truncated: false });
    const capped = resultOutput(result, '/tmp/report.json');
    expect(capped.truncated).toBe(true);
    expect(Buffer.byteLength(capped.json)).toBeLessThan(1024);
    expect(JSON.parse(capped.json)).toEqual({ truncated: true, reportPath: '/tmp/report.json', message: expect.stringContaining('report-path') });
    // Up to the cap, the output is exactly the result's JSON.
    const under = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`key-${i}`, { n: i, tags: ['a', null, true] }]));
    expect(resultOutput(under, '/r.json')).toEqual({ json: JSON.stringify(under), truncated: false });
  });
});
