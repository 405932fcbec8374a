import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resumedRunId } from '../src/aws/aws-engine.ts';
import { executionName, type StepIdentity } from '../src/aws/execution.ts';
import { main } from '../src/cli.ts';
import { InputError } from '../src/errors.ts';
import { parseJob, type Job } from '../src/job.ts';
import { LambdaFunctionError } from '../src/lambda-error.ts';
import { runLocal, type Invoke } from '../src/local/local-engine.ts';
import type { RunManifest } from '../src/partition/commit.ts';
import { resumeSentence, rowName, type BatchReport } from '../src/report/batch-report.ts';
import type { WorkEvent } from '../src/steps/steps.ts';
import { sortedCopy, tempDir } from './helpers/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const flaky = path.join(here, 'fixtures/flaky-handler.ts');

/**
 * Six files of two equal lines, each its own partition. Two fail while the flag exists (a line of
 * each says so); a third times out whole in the first run (the test says so), and of its halves
 * the second fails while the flag exists.
 */
async function corpus(flag: string): Promise<{ input: string; lines: string[] }> {
  const input = await tempDir();
  const lines: string[] = [];
  for (let file = 0; file < 6; file += 1) {
    const second = file === 1 || file === 4 || file === 3 ? `failwhile:${flag}` : `file ${file} line 2`;
    const pair = [`file ${file} line 1`, second].map((line) => line.padEnd(flag.length + 12, ' '));
    lines.push(...pair);
    await writeFile(path.join(input, `f${file}.txt`), `${pair.join('\n')}\n`);
  }
  return { input, lines };
}

/** Records which partitions (and halves) each run's workers ran; in the first run, the partition holding f3 times out whole. */
function workers(timesOutWhole?: number) {
  const ran: string[] = [];
  const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, seconds) => {
    if (fn.module !== 'worker') return invoke(fn, event, seconds);
    const { item } = event as WorkEvent;
    ran.push(rowName(item));
    if (item.id === timesOutWhole && !('split' in item && item.split !== undefined)) throw new LambdaFunctionError('Sandbox.Timedout', 'Task timed out after 900.00 seconds');
    return invoke(fn, event, seconds);
  };
  return { ran, wrapInvoke };
}

/** Every line in the files the run manifest says the run committed: what a reader of the output sees. */
async function committedLines(output: string, runId: string): Promise<{ manifest: RunManifest; lines: string[] }> {
  const manifest = JSON.parse(await readFile(path.join(output, `_sfn-fanout/runs/${runId}/manifest.json`), 'utf8')) as RunManifest;
  const lines: string[] = [];
  for (const key of manifest.committed) lines.push(...(await readFile(path.join(output, key), 'utf8')).split('\n').filter((line) => line !== ''));
  return { manifest, lines: sortedCopy(lines) };
}

describe('resume: a run again of exactly what failed, with the rest counted from where it was committed', () => {
  let clean: BatchReport;
  let all: string[];
  let input: string;
  let flag: string;
  let cleanOutput: string;
  beforeAll(async () => {
    flag = path.join(await tempDir(), 'bug');
    ({ input, lines: all } = await corpus(flag));
    // The same input without the bug: the result a resumed run must equal.
    cleanOutput = await tempDir();
    clean = await runLocal({ job: parseJob({ input, output: cleanOutput, format: 'lines', partitions: 6 }), handler: flaky, concurrency: 2 });
    expect(clean.status).toBe('SUCCEEDED');
  });

  it.each(['INLINE', 'DISTRIBUTED'])('%s: the resumed run runs only the failed partitions and halves, and its result equals a clean run’s', async (mode) => {
    await writeFile(flag, 'not fixed yet');
    const output = await tempDir();
    const job: Job = parseJob({ input, output, format: 'lines', partitions: 6 });
    const parameters = { MapMode: mode };

    const firstWorkers = workers(3);
    const first = await runLocal({ job, handler: flaky, concurrency: 2, parameters, wrapInvoke: firstWorkers.wrapInvoke, retryDelayMs: 1 });
    expect(first.status).toBe('FAILED');
    const failed = first.partitions.filter((row) => row.status === 'failed').map(rowName);
    expect(failed).toEqual(['1', '3/2', '4']);
    expect(first.partitions.filter((row) => row.status === 'succeeded').map(rowName)).toEqual(['0', '2', '3/1', '5']);

    // Resumed before the bug is fixed: the same partitions and halves run, and fail, again; the others keep the first run's results.
    const againWorkers = workers();
    const again = await runLocal({ job: { ...job, resume: first.runId }, handler: flaky, concurrency: 2, parameters, wrapInvoke: againWorkers.wrapInvoke });
    expect(again.status).toBe('FAILED');
    expect(sortedCopy(againWorkers.ran)).toEqual(failed);
    expect(again.partitions.map((row) => [rowName(row), row.status, row.ranIn])).toEqual([
      ['0', 'succeeded', first.runId],
      ['1', 'failed', undefined],
      ['2', 'succeeded', first.runId],
      ['3/1', 'succeeded', first.runId],
      ['3/2', 'failed', undefined],
      ['4', 'failed', undefined],
      ['5', 'succeeded', first.runId],
    ]);

    // The bug is fixed; the resumed run names the one that failed again, and counts each result from the run that ran it.
    await rm(flag);
    const secondWorkers = workers();
    const second = await runLocal({ job: { ...job, resume: again.runId }, handler: flaky, concurrency: 2, parameters, wrapInvoke: secondWorkers.wrapInvoke });
    expect(second.status).toBe('SUCCEEDED');
    expect(sortedCopy(secondWorkers.ran)).toEqual(failed);
    expect(second.resumes).toBe(again.runId);
    expect(second.partitions.map((row) => [rowName(row), row.status, row.ranIn])).toEqual([
      ['0', 'succeeded', first.runId],
      ['1', 'succeeded', undefined],
      ['2', 'succeeded', first.runId],
      ['3/1', 'succeeded', first.runId],
      ['3/2', 'succeeded', undefined],
      ['4', 'succeeded', undefined],
      ['5', 'succeeded', first.runId],
    ]);
    expect(resumeSentence(second)).toBe(`Resumed run ${again.runId}: this run ran again the 3 partitions that failed there: 1, 3/2, 4; the other 4 count the results they committed there.`);

    // Merged once, equal to a clean run's; every record counted once, in the totals and in the committed files.
    expect(second.result).toEqual(clean.result);
    expect(second.totals).toMatchObject({ records: all.length, succeeded: 7, failed: 0 });
    const { manifest, lines } = await committedLines(output, second.runId);
    expect(lines).toEqual(sortedCopy(all));
    expect(manifest).toMatchObject({ runId: second.runId, status: 'SUCCEEDED', resumes: again.runId });
    expect(manifest.partitions.map((entry) => [rowName(entry), entry.run])).toEqual(second.partitions.map((row) => [rowName(row), row.ranIn ?? second.runId]));
    expect(existsSync(flag)).toBe(false);
  });

  it('refuses to resume a run that never reported its partitions, before any work (exit 2)', async () => {
    const { input } = await corpus(path.join(await tempDir(), 'never-there'));
    const output = await tempDir();
    let err = '';
    const code = await main(['run', '--input', input, '--output', output, '--handler', flaky, '--format', 'lines', '--resume', 'local-never-ran'], { out: () => {}, err: (text) => void (err += text), tty: false });
    expect(code).toBe(2);
    expect(err).toContain(`resume local-never-ran: ${path.join(output, '_sfn-fanout/runs/local-never-ran')} holds no run manifest and batch file, so that run never finished its Reduce step`);
    expect(await readdir(output)).toEqual([]);
  });

  it('refuses to resume a run of another input, before any work (exit 2): a resumed run reads what that run read', async () => {
    const other = await tempDir();
    await writeFile(path.join(other, 'other.txt'), 'another day\n');
    let err = '';
    const code = await main(['run', '--input', other, '--output', cleanOutput, '--handler', flaky, '--format', 'lines', '--resume', clean.runId], { out: () => {}, err: (text) => void (err += text), tty: false });
    expect(code).toBe(2);
    expect(err).toMatch(new RegExp(`resume ${clean.runId}: that run read \\S+ as lines, and this one would read \\S+${path.basename(other)} as lines\\. A resumed run reads exactly what the run it resumes read`));
    expect(await readdir(path.join(cleanOutput, '_sfn-fanout/runs'))).toEqual([clean.runId]);
  });

  it('refuses, before any work (exit 2), a resume over an input changed since, and one whose committed attempts are gone', async () => {
    const flag = path.join(await tempDir(), 'bug');
    const { input } = await corpus(flag);
    await writeFile(flag, 'not fixed yet');
    const output = await tempDir();
    const first = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 6 }), handler: flaky, concurrency: 2 });
    expect(first.status).toBe('FAILED');
    const resume = async (): Promise<{ code: number; err: string }> => {
      let err = '';
      const code = await main(['run', '--input', input, '--output', output, '--handler', flaky, '--format', 'lines', '--partitions', '6', '--resume', first.runId], { out: () => {}, err: (text) => void (err += text), tty: false });
      return { code, err };
    };
    // A record appended to a partition that succeeded, a new file, a file gone: the reused partitions would miss each.
    await writeFile(path.join(input, 'f0.txt'), 'one more record\n', { flag: 'a' });
    await writeFile(path.join(input, 'zz-new.txt'), 'a new file\n');
    await rm(path.join(input, 'f5.txt'));
    expect(await resume()).toEqual({
      code: 2,
      err: expect.stringContaining(
        `resume ${first.runId}: the input changed since that run planned it: 1 added (${path.join(input, 'zz-new.txt')}); 1 changed (${path.join(input, 'f0.txt')}); 1 removed (${path.join(input, 'f5.txt')}). A resumed run counts the partitions that run committed from the input as it was then`,
      ) as unknown,
    });
    // Staged attempts deleted, as a lifecycle rule would: nothing of the earlier run can be counted again.
    await rm(path.join(output, `_sfn-fanout/runs/${first.runId}/attempts`), { recursive: true });
    expect(await resume()).toEqual({ code: 2, err: expect.stringContaining(`resume ${first.runId}: the attempts that run committed are gone`) as unknown });
    expect(await readdir(path.join(output, '_sfn-fanout/runs'))).toEqual([first.runId]);
  });

  it('names the run that previous-attempt or an execution ARN resumes, and refuses one that names none', () => {
    const step: StepIdentity = { repository: 'acme/data', workflow: 'nightly', job: 'fanout', step: 'run', runId: '7001', runAttempt: 3 };
    expect(resumedRunId('previous-attempt', step)).toBe(executionName(step, 2));
    expect(resumedRunId(`arn:aws:states:us-east-1:123456789012:execution:nightly-fanout:${executionName(step, 1)}`, step)).toBe(executionName(step, 1));
    expect(resumedRunId('local-2026-11-28T07-00-00-000Z-1a2b3c4d', step)).toBe('local-2026-11-28T07-00-00-000Z-1a2b3c4d');
    expect(() => resumedRunId('previous-attempt', { ...step, runAttempt: 1 })).toThrow(new InputError('resume previous-attempt resumes the execution of this step in the previous run attempt, and this is the first attempt: re-run the failed jobs of the workflow run (its next attempt resumes this one), or give the run id to resume.'));
    expect(() => resumedRunId('arn:aws:states:us-east-1:123456789012:execution:nightly-fanout:..', step)).toThrow(/resume "\.\." is not a run id/);
    // An execution ARN must be one of this stack's (before anything is deployed).
    const home = { region: 'us-east-1', account: '123456789012', stateMachine: 'nightly-fanout' };
    expect(resumedRunId(`arn:aws:states:us-east-1:123456789012:execution:nightly-fanout:${executionName(step, 1)}`, step, home)).toBe(executionName(step, 1));
    expect(() => resumedRunId('arn:aws:states:us-east-1:123456789012:execution:other-fanout:x', step, home)).toThrow(
      new InputError("resume arn:aws:states:us-east-1:123456789012:execution:other-fanout:x is an execution of state machine other-fanout in us-east-1, account 123456789012; this run's executions are those of nightly-fanout in us-east-1, account 123456789012. Give an execution of this stack, or its run id (the execution's name) if that run wrote to this output."),
    );
    expect(() => resumedRunId('arn:aws:states:eu-west-1:123456789012:execution:nightly-fanout:x', step, home)).toThrow(/is an execution of state machine nightly-fanout in eu-west-1/);
    expect(() => resumedRunId('arn:aws:lambda:us-east-1:123456789012:function:x', step, home)).toThrow(/is not a Step Functions execution ARN/);
  });
});
