import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  GetExecutionHistoryCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { CancelledError, FanoutError, InputError, errorMessage } from '../errors.ts';
import { fullJitterDelay, isThrottling, isTransient } from './backoff.ts';
import type { Clock } from './clock.ts';
import { executionAcceptor } from './execution-acceptor.ts';
import { NO_PROGRESS, applyHistory, applyMapRun, type MapProgress } from './map-progress.ts';

/** Where a workflow step stands: the same values on a retried step, new ones on a re-run (new attempt). */
export interface StepIdentity {
  readonly repository: string;
  readonly workflow: string;
  readonly job: string;
  readonly step: string;
  readonly runId: string;
  readonly runAttempt: number;
  /**
   * What tells apart the runs of one step in one attempt: the legs of a matrix share GITHUB_JOB
   * and GITHUB_ACTION, not their input and output (see jobLeg).
   */
  readonly leg?: string;
}

/** A job's leg: its input and output, the same on a retry and in the next attempt that resumes it. */
export function jobLeg(job: { readonly input: string; readonly output: string }): string {
  return `${job.input}\n${job.output}`;
}

/**
 * A deterministic execution name (at most 80 characters, letters, digits and hyphens): a retried
 * step re-attaches to its own execution; a re-run of the workflow (a new attempt), or another leg
 * of a matrix, starts its own.
 */
export function executionName(step: StepIdentity, attempt = step.runAttempt): string {
  const where = createHash('sha256').update([step.repository, step.workflow, step.job, step.step, ...(step.leg === undefined ? [] : [step.leg])].join('\n')).digest('hex').slice(0, 12);
  return `sfn-fanout-${step.runId}-${attempt}-${where}`.slice(0, 80);
}

export function executionArnOf(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[5] !== 'stateMachine') throw new InputError(`"${stateMachineArn}" is not a state machine ARN.`);
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

export interface Started {
  readonly executionArn: string;
  /** True when the execution already existed and this step attached to it. */
  readonly attached: boolean;
}

/** A running execution's StartExecution answers with its own startDate: one this much before the call was started earlier. */
const EARLIER_START_MS = 10_000;

/**
 * Starts the execution, or attaches to it. StartExecution is idempotent for a running execution
 * with the same name and input (it answers with that execution's startDate, earlier than `now`);
 * `ExecutionAlreadyExists` means it has closed (or its input differs).
 */
export async function startOrAttach(sfn: SFNClient, stateMachineArn: string, name: string, input: unknown, signal?: AbortSignal, now?: number): Promise<Started> {
  const body = JSON.stringify(input);
  const call = signal === undefined ? {} : { abortSignal: signal };
  try {
    const { executionArn, startDate } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: body }), call);
    return { executionArn: executionArn!, attached: now !== undefined && startDate !== undefined && startDate.getTime() < now - EARLIER_START_MS };
  } catch (error) {
    if ((error as { name?: string }).name !== 'ExecutionAlreadyExists') throw error;
    const executionArn = executionArnOf(stateMachineArn, name);
    const existing = await sfn.send(new DescribeExecutionCommand({ executionArn }), call);
    if (existing.input !== undefined && existing.input !== body) {
      // Stopping it frees nothing: a Standard execution's name stays taken for 90 days after it closes.
      throw new FanoutError(
        `Execution ${name} already exists with different input (status ${existing.status}): this step of this run attempt already ran with other inputs. A Standard execution's name stays taken for 90 days after it closes, so stopping it does not free the name: re-run the workflow (each new run attempt starts an execution with a new name).`,
        { cause: error },
      );
    }
    return { executionArn, attached: true };
  }
}

export interface WaitOptions {
  readonly clock: Clock;
  /** Stop the execution if it runs longer than this, counted from its startDate. */
  readonly timeoutMs?: number;
  /** Stop the execution when this aborts (the job was cancelled), and return within seconds. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: MapProgress, status: string) => void;
  readonly log?: (line: string) => void;
  readonly random?: () => number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
}

const FIRST_DELAY_MS = 2000;
const MAX_DELAY_MS = 60_000;
/** The wait before noticing completion stays within max(10 s, 5% of the time run so far). */
const NOTICE_FLOOR_MS = 10_000;
const NOTICE_SHARE = 0.05;
const MAX_TRANSIENT_FAILURES = 8;
/** Full jitter may draw near zero; a floor keeps the worst case at about one call a second. */
const MIN_DELAY_MS = 1000;
/** DescribeMapRun's bucket refills at one request a second: read it half as often. */
const MAP_RUN_INTERVAL_MS = 2000;
/** After a cancel, the stop and its confirmation get this long in all: the runner kills the step soon after. */
const CANCEL_BUDGET_MS = 5000;

/**
 * Polls DescribeExecution until the execution closes, with capped exponential backoff and full
 * jitter; throttling doubles the cap. Progress comes from the history events added since the last
 * poll (newest first, stopping at the last one seen), one page in the usual case. Past the timeout
 * the execution is stopped and followed to its end; on cancel it is stopped at once.
 */
export async function waitForExecution(sfn: SFNClient, executionArn: string, options: WaitOptions): Promise<DescribeExecutionCommandOutput> {
  const { clock } = options;
  const random = options.random ?? Math.random;
  const cancelled = (): boolean => options.signal?.aborted === true;
  const call = options.signal === undefined ? {} : { abortSignal: options.signal };
  // The execution's own start, once known: a step that re-attaches does not restart the timeout.
  let started = clock.now();
  let startKnown = false;
  let progress = NO_PROGRESS;
  let attempt = 0;
  let slowdown = 1;
  let transientFailures = 0;
  let timedOut = false;
  let readMapRun = true;
  let lastMapRunPoll = Number.NEGATIVE_INFINITY;
  for (;;) {
    try {
      const response = await sfn.send(new DescribeExecutionCommand({ executionArn }), call);
      if (!startKnown && response.startDate !== undefined) {
        started = Math.min(started, response.startDate.getTime());
        startKnown = true;
      }
      const mapRunDue = readMapRun && clock.now() - lastMapRunPoll >= MAP_RUN_INTERVAL_MS;
      progress = applyHistory(progress, await newHistoryEvents(sfn, executionArn, progress.lastEventId, call));
      if (mapRunDue && progress.mapRunArn !== undefined) {
        lastMapRunPoll = clock.now();
        try {
          const run = await sfn.send(new DescribeMapRunCommand({ mapRunArn: progress.mapRunArn }), call);
          if (run.itemCounts !== undefined) progress = applyMapRun(progress, run.itemCounts);
        } catch (error) {
          // Progress is for the log; a role without DescribeMapRun must not fail the batch.
          if ((error as { name?: string }).name !== 'AccessDeniedException') throw error;
          readMapRun = false;
          options.log?.(`Cannot read the Distributed Map's progress (${errorMessage(error)}): grant states:DescribeMapRun on the stack's map runs, as template/deploy-role-policy.json does. Counting from the execution history instead.`);
        }
      }
      options.onProgress?.(progress, response.status ?? 'RUNNING');
      if (executionAcceptor(response) !== 'RETRY') return timedOut ? stoppedBy(response, timeoutCause(options.timeoutMs!)) : response;
      transientFailures = 0;
      slowdown = Math.max(1, slowdown / 2);
    } catch (error) {
      if (!cancelled()) {
        if (!isTransient(error) || ++transientFailures > MAX_TRANSIENT_FAILURES) throw error;
        if (isThrottling(error)) slowdown = Math.min(slowdown * 2, 16);
      }
    }
    if (cancelled()) return stopOnCancel(sfn, executionArn, clock);
    const elapsed = clock.now() - started;
    if (options.timeoutMs !== undefined && elapsed >= options.timeoutMs && !timedOut) {
      timedOut = true;
      // A cancel that cuts this call short is handled at the top of the loop, by stopOnCancel.
      await stopExecution(sfn, executionArn, timeoutCause(options.timeoutMs), options.signal).catch((error: unknown) => {
        if (!cancelled()) throw error;
      });
      continue;
    }
    const cap = Math.min(options.maxDelayMs ?? MAX_DELAY_MS, Math.max(NOTICE_FLOOR_MS, elapsed * NOTICE_SHARE)) * slowdown;
    const delay = Math.max(MIN_DELAY_MS, fullJitterDelay(attempt++, options.firstDelayMs ?? FIRST_DELAY_MS, cap, random));
    await clock.sleep(delay, options.signal);
  }
}

function timeoutCause(timeoutMs: number): string {
  return `sfn-fanout stopped the execution: it ran past the timeout of ${Math.round(timeoutMs / 1000)} s.`;
}

const CANCEL_CAUSE = 'sfn-fanout stopped the execution: the job was cancelled.';

/** An execution this run stopped says so, with the cause it was stopped with, where Step Functions gives none. */
function stoppedBy(response: DescribeExecutionCommandOutput, cause: string): DescribeExecutionCommandOutput {
  return response.status === 'ABORTED' && response.cause === undefined ? { ...response, error: response.error ?? 'SfnFanout.Stopped', cause } : response;
}

/** Stops a cancelled run's execution and confirms it, all within a few seconds of real time. */
async function stopOnCancel(sfn: SFNClient, executionArn: string, clock: Clock): Promise<DescribeExecutionCommandOutput> {
  const budget = AbortSignal.timeout(CANCEL_BUDGET_MS);
  try {
    await stopExecution(sfn, executionArn, CANCEL_CAUSE, budget);
    for (;;) {
      const response = await sfn.send(new DescribeExecutionCommand({ executionArn }), { abortSignal: budget });
      if (executionAcceptor(response) !== 'RETRY') return stoppedBy(response, CANCEL_CAUSE);
      await clock.sleep(MIN_DELAY_MS, budget);
      if (budget.aborted) break;
    }
  } catch (error) {
    if (!budget.aborted) throw error;
  }
  throw new CancelledError(`Cancelled. Asked Step Functions to stop ${executionArn}, but it was not confirmed stopped within ${CANCEL_BUDGET_MS / 1000} s: check it in the console.`);
}

async function newHistoryEvents(sfn: SFNClient, executionArn: string, lastEventId: number, call: { abortSignal?: AbortSignal }): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1000, includeExecutionData: false, nextToken }), call);
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= lastEventId) return fresh.reverse();
      fresh.push(event);
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return fresh.reverse();
}

export async function stopExecution(sfn: SFNClient, executionArn: string, cause: string, signal?: AbortSignal): Promise<void> {
  try {
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'SfnFanout.Stopped', cause }), signal === undefined ? {} : { abortSignal: signal });
  } catch (error) {
    // Already closed: nothing to stop.
    if ((error as { name?: string }).name !== 'ExecutionDoesNotExist' && !/not running|already/i.test(errorMessage(error))) throw error;
  }
}
