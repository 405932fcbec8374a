import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHandler } from '../src/handler/load-handler.ts';
import { parseJob } from '../src/job.ts';
import { LambdaFunctionError, serializeError } from '../src/lambda-error.ts';
import { runLocal, type Invoke } from '../src/local/local-engine.ts';
import { PAYLOAD_LIMIT_BYTES } from '../src/local/payload-limit.ts';
import { rowName } from '../src/report/batch-report.ts';
import { workStep, type WorkEvent } from '../src/steps/steps.ts';
import { tempDir } from './helpers/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const echo = path.join(here, 'fixtures/echo-handler.ts');
const behaviour = path.join(here, 'fixtures/behaviour-handler.ts');

/** One record a partition: `partitions` lines of equal width, in one file. */
async function oneLinePerPartition(partitions: number): Promise<string> {
  const input = await tempDir();
  const lines = Array.from({ length: partitions }, (_, id) => `record ${String(id).padStart(5, '0')}`);
  await writeFile(path.join(input, 'records.txt'), `${lines.join('\n')}\n`);
  return input;
}

/** The message a handler throws: long, with a stack, as a real handler's error would be. */
const failureMessage = (id: number, split = '') => `partition ${id}${split}: the upstream schema changed, field "customer.address.postcode" is missing (${'context '.repeat(40).trim()})`;
/** A handler's own error class, with a name longer than a Map result keeps. */
class UpstreamSchemaChangedWhileReadingCustomersError extends Error {
  override name = 'UpstreamSchemaChangedWhileReadingCustomersError';
}

type Fault = 'handler' | 'crash' | 'timeout' | undefined;

/**
 * The worker as its Lambda thread runs it, in this thread and without a bundle: the real work step
 * with a handler that throws for the partitions `fault` names, and the faults only Lambda makes
 * (a crash, a timeout) thrown as Lambda reports them. The point is the state machine and the
 * reducer at scale, not the handler. A partition that timed out is split; its first half then
 * fails in the handler and its second half times out again.
 */
function inProcessWorker(fault: (id: number) => Fault): (invoke: Invoke) => Invoke {
  const handler = checkHandler(
    {
      processPartition: async (records: AsyncIterable<{ value: string }>, context: { partitionId: number }) => {
        let n = 0;
        for await (const _record of records) n += 1;
        if (fault(context.partitionId) === 'handler') throw new Error(failureMessage(context.partitionId));
        if (fault(context.partitionId) === 'timeout') throw new UpstreamSchemaChangedWhileReadingCustomersError(failureMessage(context.partitionId, '/1'));
        return { n };
      },
    },
    'in-process-handler',
  );
  return (invoke) => async (fn, event, seconds) => {
    if (fn.module !== 'worker') return invoke(fn, event, seconds);
    const { id, split } = (event as WorkEvent).item;
    if (fault(id) === 'crash') throw new LambdaFunctionError('Runtime.ExitError', 'RequestId: 1 Error: Runtime exited with error: signal: killed');
    if (fault(id) === 'timeout' && split !== '1') throw new LambdaFunctionError('Sandbox.Timedout', 'Task timed out after 900.00 seconds');
    try {
      return JSON.parse(JSON.stringify(await workStep(event as WorkEvent, { s3: () => { throw new Error('no S3 here'); }, handler: async () => handler })));
    } catch (error) {
      const { errorType, errorMessage, trace } = serializeError(error);
      throw new LambdaFunctionError(errorType, errorMessage, trace);
    }
  };
}

/** The report rows a fault gives, as [row name, error, message]. */
function expectedRows(id: number, fault: Fault): [string, string, string][] {
  const timedOut = "Task timed out after 900.00 seconds: the worker ran past its Timeout (WorkerTimeout) and Lambda stopped it. Lower partition-size, or give the workers more memory (CPU) or a longer timeout.";
  if (fault === 'handler') return [[`${id}`, 'Error', failureMessage(id)]];
  if (fault === 'crash') return [[`${id}`, 'Runtime.ExitError', "The worker's runtime failed before it returned (Runtime.ExitError: a crash, or out of memory); its error is in the worker's log (in AWS its log group; locally the run's console, labelled with the partition)."]];
  if (fault === 'timeout') return [[`${id}/1`, 'UpstreamSchemaChangedWhileReadingCustomersError', failureMessage(id, '/1')], [`${id}/2`, 'Sandbox.Timedout', timedOut]];
  return [];
}

/** The largest payload of a run, and the largest of the Map state's own output. */
function payloadWatch() {
  const largest = { any: { state: '', kind: '', bytes: 0 }, mapOutput: 0 };
  return {
    largest,
    onStatePayload: (state: string, kind: string, bytes: number) => {
      if (bytes > largest.any.bytes) largest.any = { state, kind, bytes };
      if (state === 'Work' && kind === 'output') largest.mapOutput = Math.max(largest.mapOutput, bytes);
    },
  };
}

describe('mass failure: the report lists each partition, and no state passes 256 KiB', () => {
  it('1,000 partitions all failing, Inline: handler errors, crashes, and timeouts whose halves fail again', async () => {
    const partitions = 1000;
    const fault = (id: number): Fault => (['handler', 'crash', 'timeout'] as const)[id % 3];
    const watch = payloadWatch();
    const report = await runLocal({
      job: parseJob({ input: await oneLinePerPartition(partitions), output: await tempDir(), format: 'lines', partitions }),
      handler: echo,
      concurrency: 2,
      parameters: { MapMode: 'INLINE' },
      wrapInvoke: inProcessWorker(fault),
      onStatePayload: watch.onStatePayload,
    });
    const expected = Array.from({ length: partitions }, (_, id) => expectedRows(id, fault(id))).flat();
    expect(report.error?.name).toBe('SfnFanout.ToleratedFailureExceeded');
    expect(report.totals).toMatchObject({ partitions: expected.length, succeeded: 0, failed: expected.length, records: 0 });
    expect(report.partitions.map((row) => [rowName(row), row.error, row.message])).toEqual(expected);
    // 1,333 failures travelled through the Map's output, by name; the largest payload of the run
    // (the Partition state's inline plan) keeps 40% of Step Functions' 256 KiB free.
    expect(watch.largest.mapOutput).toBeLessThan(PAYLOAD_LIMIT_BYTES / 2);
    expect(watch.largest.any.bytes).toBeLessThan(PAYLOAD_LIMIT_BYTES * 0.6);
  });

  it('10,000 partitions with 5% failing, Distributed: the failed rows are exactly the failures injected', async () => {
    const partitions = 10_000;
    const fault = (id: number): Fault => (id % 20 === 7 ? 'handler' : id % 20 === 13 ? 'crash' : undefined);
    const watch = payloadWatch();
    const report = await runLocal({
      job: parseJob({ input: await oneLinePerPartition(partitions), output: await tempDir(), format: 'lines', partitions, maxPartitions: partitions }),
      handler: echo,
      concurrency: 2,
      parameters: { MapMode: 'DISTRIBUTED', ToleratedFailurePercentage: '10', MaxConcurrency: '100' },
      wrapInvoke: inProcessWorker(fault),
      onStatePayload: watch.onStatePayload,
    });
    const failed = Array.from({ length: partitions }, (_, id) => expectedRows(id, fault(id))).flat();
    expect(report.status).toBe('SUCCEEDED');
    expect(report.totals).toMatchObject({ partitions, succeeded: partitions - failed.length, failed: failed.length, records: partitions - failed.length });
    expect(report.partitions.filter((row) => row.status === 'failed').map((row) => [rowName(row), row.error, row.message])).toEqual(failed);
    expect(report.partitions.map((row) => row.id)).toEqual(Array.from({ length: partitions }, (_, id) => id));
    // Each child's input is a reference to its partition; the Map's own output is where the results went.
    expect(watch.largest.any.bytes).toBeLessThan(PAYLOAD_LIMIT_BYTES / 4);
  });

  it('a real worker writes the whole error of a partition it fails to the run’s files, redacted; only the name travels through the Map', async () => {
    const token = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
    const why = `the-schema-changed ${token} ${'y'.repeat(3000)}`;
    const input = await tempDir();
    for (const [index, line] of ['aaaa', `boom:${why}`, 'cccc'].entries()) await writeFile(path.join(input, `f${index}.txt`), `${line}\n`);
    const output = await tempDir();
    const watch = payloadWatch();
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 3 }), handler: behaviour, concurrency: 2, runId: 'detail-run', parameters: { ToleratedFailurePercentage: '50' }, onStatePayload: watch.onStatePayload });
    const message = `boom in ${why.replace(token, '***')}`;
    expect(report.partitions.map((row) => [row.status, row.error, row.message]).sort()).toEqual([['failed', 'Error', message], ['succeeded', undefined, undefined], ['succeeded', undefined, undefined]]);
    const failedId = report.partitions.find((row) => row.status === 'failed')!.id;
    // The worker wrote the failure as its attempt's outcome: message and trace, the token taken out.
    const attempts = await readdir(path.join(output, '_sfn-fanout/runs/detail-run/attempts'));
    const failedAttempt = attempts.find((name) => new RegExp(`^part-0000${failedId}\\.[0-9a-f]{12}\\.json$`).test(name))!;
    const outcome = JSON.parse(await readFile(path.join(output, '_sfn-fanout/runs/detail-run/attempts', failedAttempt), 'utf8')) as { status: string; error: string; attempt: string; cause: string };
    expect(outcome).toMatchObject({ status: 'failed', error: 'Error', attempt: failedAttempt.slice(11, 23) });
    const cause = JSON.parse(outcome.cause) as { errorMessage: string; trace: string[] };
    expect(cause.errorMessage).toBe(message);
    expect(cause.trace.some((line) => line.includes('behaviour-handler'))).toBe(true);
    expect(JSON.stringify(outcome)).not.toContain(token);
    // Through the Map, a 3 KB message became an error name: three results in a few hundred bytes.
    expect(watch.largest.mapOutput).toBeLessThan(1500);
  });
});
