import type { RejectedSample } from '../partition/outcome.ts';
import type { BatchCounts } from '../partition/reduce.ts';
import type { CostEstimate } from './cost.ts';
import type { BatchFile, PlanSummary } from '../steps/steps.ts';
import { causeMessage } from '../lambda-error.ts';

/** One row of the partition table. */
export interface PartitionRow {
  readonly id: number;
  /** The half ("1" or "2") of a partition that was split after a timeout. */
  readonly split?: string;
  readonly status: 'succeeded' | 'failed';
  readonly bytes: number;
  readonly records?: number;
  readonly rejected?: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly durationMs?: number;
  readonly error?: string;
  readonly message?: string;
  readonly rejectedSamples?: readonly RejectedSample[];
  readonly outputs?: readonly string[];
  /** A resumed run's row of a partition it did not run: the earlier run whose committed result it counts. */
  readonly ranIn?: string;
}

/** Where a running batch stands; both engines report it. `records` is known only locally, as it goes. */
export interface BatchProgress {
  readonly total: number | undefined;
  readonly running: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly records?: number;
}

export interface ReportLink {
  readonly label: string;
  readonly url: string;
}

/** What one batch did, whichever engine ran it: the one input of the summary, the outputs and the JSON report. */
export interface BatchReport {
  readonly engine: 'local' | 'aws';
  readonly runId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** Why the execution failed, when it did. */
  readonly error?: { readonly name: string; readonly message: string };
  readonly input: string;
  readonly output: string;
  readonly format: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly wallMs: number;
  readonly plan?: PlanSummary;
  /** The run this one resumed: it ran again what failed there, and counted the rest from there (rows with `ranIn`). */
  readonly resumes?: string;
  /** `workerMs` sums the workers' durations: over wallMs, the effective parallelism. */
  readonly totals: BatchCounts & { readonly workerMs: number };
  readonly toleratedFailurePercentage?: number;
  readonly partitions: readonly PartitionRow[];
  readonly result: unknown;
  readonly links: readonly ReportLink[];
  /** The AWS engine's estimate of what the run cost. */
  readonly cost?: CostEstimate;
  /** The AWS engine's execution and stack. */
  readonly aws?: { readonly executionArn: string; readonly stackId: string };
}

/** What a resumed run ran and what it reused, in one sentence; undefined for a run that resumed none. */
export function resumeSentence(report: Pick<BatchReport, 'resumes' | 'partitions'>): string | undefined {
  if (report.resumes === undefined) return undefined;
  const ran = report.partitions.filter((row) => row.ranIn === undefined).map(rowName);
  const reused = report.partitions.length - ran.length;
  const listed = ran.length <= 20 ? `: ${ran.join(', ')}` : `, ${ran.slice(0, 20).join(', ')} and ${ran.length - 20} more`;
  return `Resumed run ${report.resumes}: this run ran again the ${ran.length} ${ran.length === 1 ? 'partition' : 'partitions'} that failed there${ran.length === 0 ? '' : listed}; the other ${reused} count the results ${reused === 1 ? 'it' : 'they'} committed there.`;
}

/** A row's name: `3`, or `3/1` for the first half of partition 3 after it was split. */
export function rowName(row: Pick<PartitionRow, 'id' | 'split'>): string {
  return row.split === undefined ? String(row.id) : `${row.id}/${row.split}`;
}

export interface ExecutionFacts {
  readonly engine: BatchReport['engine'];
  readonly runId: string;
  readonly input: string;
  readonly output: string;
  readonly format: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Set when the execution failed; its cause may be a Lambda error document. */
  readonly error?: { readonly name: string; readonly cause: string };
  readonly links?: readonly ReportLink[];
}

/** Builds the report from the facts of the execution and the batch file the reducer wrote (absent when it never ran). */
export function buildReport(facts: ExecutionFacts, batch: BatchFile | undefined): BatchReport {
  const partitions: PartitionRow[] = (batch?.outcomes ?? []).map((outcome) =>
    outcome.status === 'succeeded'
      ? {
          id: outcome.id,
          ...(outcome.split === undefined ? {} : { split: outcome.split }),
          status: 'succeeded',
          bytes: outcome.bytes,
          records: outcome.records,
          rejected: outcome.rejected,
          startedAt: outcome.startedAt,
          finishedAt: outcome.finishedAt,
          durationMs: outcome.finishedAt - outcome.startedAt,
          rejectedSamples: outcome.rejectedSamples,
          outputs: outcome.outputs,
          ...(outcome.ranIn === undefined ? {} : { ranIn: outcome.ranIn }),
        }
      : { id: outcome.id, ...(outcome.split === undefined ? {} : { split: outcome.split }), status: 'failed', bytes: outcome.bytes, error: outcome.error, message: causeMessage(outcome.cause) },
  );
  const failed = facts.error !== undefined || batch?.status === 'FAILED';
  return {
    engine: facts.engine,
    runId: facts.runId,
    status: failed ? 'FAILED' : 'SUCCEEDED',
    ...(facts.error === undefined ? {} : { error: { name: facts.error.name, message: causeMessage(facts.error.cause) } }),
    input: facts.input,
    output: facts.output,
    format: facts.format,
    startedAt: facts.startedAt,
    finishedAt: facts.finishedAt,
    wallMs: facts.finishedAt - facts.startedAt,
    ...(batch === undefined ? {} : { plan: batch.plan, toleratedFailurePercentage: batch.toleratedFailurePercentage }),
    ...(batch?.resumes === undefined ? {} : { resumes: batch.resumes }),
    totals: {
      partitions: batch?.partitions ?? 0,
      succeeded: batch?.succeeded ?? 0,
      failed: batch?.failed ?? 0,
      records: batch?.records ?? 0,
      rejected: batch?.rejected ?? 0,
      bytes: batch?.bytes ?? 0,
      workerMs: partitions.reduce((sum, row) => sum + (row.durationMs ?? 0), 0),
    },
    partitions,
    result: batch?.result ?? null,
    links: facts.links ?? [],
  };
}
