import type { FailedPartition, FailedSummary, PartitionOutcome, PartitionSummary, RejectedSample, SucceededPartition } from '../partition/outcome.ts';
import { countOutcomes, partitionOrder, type BatchCounts } from '../partition/reduce.ts';
import type { CostEstimate } from './cost.ts';
import type { BatchFile, PlanSummary } from '../steps/steps.ts';
import { causeMessage } from '../lambda-error.ts';

/** One row of the partition table. */
export interface PartitionRow {
  readonly id: number;
  /** The half ("1" or "2") of a partition that was split after a timeout. */
  readonly split?: string;
  readonly status: 'succeeded' | 'failed';
  /** Unknown only for a row made from a succeeded partition's Map summary whose outcome file could not be read. */
  readonly bytes?: number;
  /** Records read: handed to the handler, or rejected because they did not parse. */
  readonly records?: number;
  /** Records handed to the handler. */
  readonly handed?: number;
  /** Records rejected: did not parse, or the handler threw on them. */
  readonly rejected?: number;
  /** Which Lambda execution environment ran it (its log stream), when known. */
  readonly lane?: string;
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
  /**
   * `workerMs` sums the workers' durations: over wallMs, the effective parallelism. `unfinished`
   * counts planned partitions with no outcome (a cancelled run, a reducer that never ran), when the
   * plan is known.
   */
  readonly totals: BatchCounts & { readonly workerMs: number; readonly unfinished?: number };
  readonly toleratedFailurePercentage?: number;
  /** Every partition whose outcome is known, in partition order. */
  readonly partitions: readonly PartitionRow[];
  /** The merged result of the succeeded partitions; null when there is none. */
  readonly result: unknown;
  /** True when `result` leaves partitions out: some failed or never finished, or the merge did not finish. */
  readonly resultPartial: boolean;
  /** The reducer wrote the batch file but not the run manifest: it stopped while it published outputs, so some may be in place. */
  readonly partlyPublished?: boolean;
  /** Why the run was cancelled, when the cancel came after the reducer's commit point and so stopped nothing. */
  readonly cancelledAfterCommit?: string;
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
  /** Whether the run manifest, the reducer's commit point, was found; unknown when not checked. */
  readonly committed?: boolean;
  readonly links?: readonly ReportLink[];
}

/**
 * What is known of a run whose reducer never wrote the batch file (it timed out or crashed, or the
 * run was cancelled): the partitions that finished (from their outcome files, or their Map
 * summaries where those could not be read), and how many were planned.
 */
export interface KnownOutcomes {
  readonly outcomes: readonly KnownOutcome[];
  readonly planned?: number;
}

/**
 * Builds the report from the facts of the execution and the batch file the reducer wrote; without
 * a batch file, from what the engine knows of the partitions that finished. Totals are counted from
 * the partitions listed, so they never say less than the rows.
 */
export function buildReport(facts: ExecutionFacts, batch: BatchFile | undefined, known?: KnownOutcomes): BatchReport {
  const outcomes = [...(batch?.outcomes ?? known?.outcomes ?? [])].sort(partitionOrder);
  const partitions = outcomes.map(rowOf);
  const counts = countOutcomes(outcomes);
  const planned = batch?.plan.partitions ?? known?.planned;
  const unfinished = planned === undefined ? undefined : Math.max(0, planned - finishedPartitions(outcomes));
  // A cancel that came after the commit point stopped nothing: the run is what its batch file says.
  const lateCancel = batch !== undefined && facts.committed === true && facts.error?.name === 'ExecutionAborted';
  const executionError = lateCancel ? undefined : facts.error;
  const failed = executionError !== undefined || batch?.status === 'FAILED';
  const error = executionError === undefined ? batch?.error : { name: executionError.name, message: causeMessage(executionError.cause) };
  return {
    engine: facts.engine,
    runId: facts.runId,
    status: failed ? 'FAILED' : 'SUCCEEDED',
    ...(error === undefined ? {} : { error }),
    input: facts.input,
    output: facts.output,
    format: facts.format,
    startedAt: facts.startedAt,
    finishedAt: facts.finishedAt,
    wallMs: facts.finishedAt - facts.startedAt,
    ...(batch === undefined ? {} : { plan: batch.plan, toleratedFailurePercentage: batch.toleratedFailurePercentage }),
    ...(batch?.resumes === undefined ? {} : { resumes: batch.resumes }),
    totals: {
      ...counts,
      workerMs: partitions.reduce((sum, row) => sum + (row.durationMs ?? 0), 0),
      ...(unfinished === undefined ? {} : { unfinished }),
    },
    partitions,
    result: batch?.result ?? null,
    resultPartial: batch === undefined || batch.error !== undefined || counts.failed > 0 || (unfinished ?? 0) > 0,
    ...(batch !== undefined && facts.committed === false ? { partlyPublished: true } : {}),
    ...(lateCancel ? { cancelledAfterCommit: causeMessage(facts.error!.cause) } : {}),
    links: facts.links ?? [],
  };
}

export type KnownOutcome = PartitionOutcome | PartitionSummary | FailedSummary;

function rowOf(outcome: KnownOutcome): PartitionRow {
  const name = { id: outcome.id, ...(outcome.split === undefined ? {} : { split: outcome.split }) };
  if (outcome.status === 'failed') {
    const failure = outcome as FailedPartition | FailedSummary;
    const counts = failure.records === undefined ? {} : { records: failure.records, handed: failure.handed ?? 0, rejected: failure.rejected ?? 0 };
    return { ...name, status: 'failed', bytes: failure.bytes, ...counts, error: failure.error, ...(failure.cause === undefined ? {} : { message: causeMessage(failure.cause) }) };
  }
  // A Map summary has only the attempt and records; an outcome (from the batch or outcome file) has the rest.
  const full = outcome as Partial<SucceededPartition> & PartitionSummary;
  return {
    ...name,
    status: 'succeeded',
    ...(full.bytes === undefined ? {} : { bytes: full.bytes }),
    records: full.records,
    ...(full.handed === undefined ? {} : { handed: full.handed }),
    ...(full.rejected === undefined ? {} : { rejected: full.rejected }),
    ...(full.lane === undefined ? {} : { lane: full.lane }),
    ...(full.startedAt === undefined || full.finishedAt === undefined ? {} : { startedAt: full.startedAt, finishedAt: full.finishedAt, durationMs: full.finishedAt - full.startedAt }),
    ...(full.rejectedSamples === undefined ? {} : { rejectedSamples: full.rejectedSamples }),
    ...(full.outputs === undefined ? {} : { outputs: full.outputs }),
    ...(full.ranIn === undefined ? {} : { ranIn: full.ranIn }),
  };
}

/** Planned partitions with a final outcome: a split one counts once both its halves have one. */
function finishedPartitions(outcomes: readonly { id: number; split?: string | undefined }[]): number {
  const halves = new Map<number, number>();
  let whole = 0;
  for (const outcome of outcomes) {
    if (outcome.split === undefined) whole += 1;
    else halves.set(outcome.id, (halves.get(outcome.id) ?? 0) + 1);
  }
  return whole + [...halves.values()].filter((count) => count >= 2).length;
}
