import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { concurrencyUnderAccount } from '../src/aws/lambda-concurrency.ts';
import { parseJob } from '../src/job.ts';
import { LambdaFunctionError } from '../src/lambda-error.ts';
import { runLocal, type Invoke } from '../src/local/local-engine.ts';
import { defaultTemplatePath, loadStateMachine } from '../src/local/template-definition.ts';
import { visitStates } from '../src/local/unsupported-features.ts';
import { tempDir } from './helpers/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

describe("MaxConcurrency under the account's Lambda concurrency", () => {
  it.each([
    ['a Distributed Map asked for as many as it allows (10,000), the default account (1,000)', 0, 'DISTRIBUTED', { total: 1000, unreserved: 1000 }, 900],
    ['a Distributed Map asked for 5,000, 1,000 of 3,000 reserved elsewhere', 5000, 'DISTRIBUTED', { total: 3000, unreserved: 2000 }, 1800],
    ['an Inline Map (40 at once) in a new account allowed 10', 0, 'INLINE', { total: 10, unreserved: 10 }, 8],
    ['an account allowed 2', 40, 'INLINE', { total: 2, unreserved: 2 }, 1],
  ] as const)('%s (asked %i, %s, account %j): capped to %i', (_case, asked, mode, account, capped) => {
    const { maxConcurrency, reason } = concurrencyUnderAccount(asked, mode, account);
    expect(maxConcurrency).toBe(capped);
    expect(reason).toContain(`so MaxConcurrency is ${capped.toLocaleString('en-US')} instead of`);
  });

  it.each([
    [0, 'INLINE', 40],
    [500, 'DISTRIBUTED', 500],
    [900, 'DISTRIBUTED', 900],
  ] as const)('leaves MaxConcurrency %i of a %s Map alone when the Map runs at most %i at once, under a default account', (asked, mode, atOnce) => {
    expect(concurrencyUnderAccount(asked, mode, { total: 1000, unreserved: 1000 })).toEqual({
      maxConcurrency: asked,
      reason: `Lambda concurrency: the account's Lambda concurrency is 1,000, 1,000 of it unreserved; the Map runs at most ${atOnce} partitions at once, under it.`,
    });
  });

  it('says what it changed and why, in one line', () => {
    expect(concurrencyUnderAccount(0, 'DISTRIBUTED', { total: 1000, unreserved: 1000 }).reason).toBe(
      "Lambda concurrency: the account's Lambda concurrency is 1,000, 1,000 of it unreserved, so MaxConcurrency is 900 instead of as many as the Distributed Map allows (10,000), leaving 100 for the partitioner, the reducer and other functions (ask AWS for more concurrency to run more at once).",
    );
  });
});

describe('throttling: a retry budget that outlasts a wave of partitions', () => {
  /** A wave ends when the running partitions finish and free the account's concurrency: at most a worker's Timeout. */
  const WAVE_SECONDS = 900;
  type Retrier = { ErrorEquals: string[]; IntervalSeconds: number; MaxAttempts: number; BackoffRate: number; MaxDelaySeconds: number; JitterStrategy: string };

  it('every Lambda Task retries Lambda.TooManyRequestsException for longer than a wave, jittered: 99.9% of schedules wait over 900 s', async () => {
    const { definition } = await loadStateMachine(defaultTemplatePath(), { InputBucket: 'in', OutputBucket: 'out' });
    const budgets: Record<string, { expected: number; belowWave: number }> = {};
    visitStates(definition, (name, state) => {
      if (state.Type !== 'Task') return;
      // The first retrier whose errors match is the one Step Functions uses.
      const retrier = (state.Retry as Retrier[]).find((candidate) => candidate.ErrorEquals.includes('Lambda.TooManyRequestsException') || candidate.ErrorEquals.includes('States.ALL'))!;
      expect(retrier).toMatchObject({ ErrorEquals: ['Lambda.TooManyRequestsException'], JitterStrategy: 'FULL' });
      const caps = Array.from({ length: retrier.MaxAttempts }, (_, attempt) => Math.min(retrier.IntervalSeconds * retrier.BackoffRate ** attempt, retrier.MaxDelaySeconds));
      // Full jitter waits a uniform share of each cap: a seeded draw of 10,000 schedules.
      let seed = 42;
      const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
      const totals = Array.from({ length: 10_000 }, () => caps.reduce((sum, cap) => sum + random() * cap, 0));
      budgets[name] = { expected: Math.round(caps.reduce((a, b) => a + b, 0) / 2), belowWave: totals.filter((total) => total < WAVE_SECONDS).length / totals.length };
    });
    expect(Object.keys(budgets).sort()).toEqual(['Partition', 'ProcessBatch', 'ProcessHalf', 'ProcessPartition', 'RecoverBatch', 'Reduce', 'SplitPartition']);
    for (const budget of Object.values(budgets)) {
      expect(budget.expected).toBeGreaterThan(1.3 * WAVE_SECONDS);
      expect(budget.belowWave).toBeLessThan(0.001);
    }
  });

  it('a partition throttled 20 times in a row still runs (the old budget gave up after 6), and the run counts it once', async () => {
    const input = await tempDir();
    for (const name of ['a', 'b', 'c']) await writeFile(path.join(input, `${name}.txt`), `${name}${name}${name}\n`);
    let throttled = 0;
    const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, seconds) => {
      if (fn.module === 'worker' && (event as { item: { id: number } }).item.id === 1 && throttled < 20) {
        throttled += 1;
        throw new LambdaFunctionError('Lambda.TooManyRequestsException', 'Rate Exceeded.');
      }
      return invoke(fn, event, seconds);
    };
    const report = await runLocal({ job: parseJob({ input, output: await tempDir(), format: 'lines', partitions: 3 }), handler: path.join(here, 'fixtures/echo-handler.ts'), concurrency: 2, retryDelayMs: 1, wrapInvoke });
    expect(throttled).toBe(20);
    expect(report).toMatchObject({ status: 'SUCCEEDED', totals: { partitions: 3, succeeded: 3, failed: 0, records: 3 } });
  });
});
