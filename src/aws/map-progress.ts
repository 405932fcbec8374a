import type { HistoryEvent, MapRunItemCounts } from '@aws-sdk/client-sfn';

/** The state the template's Catch leads a failed partition to. */
export const PARTITION_FAILED_STATE = 'PartitionFailed';
export const PARTITION_TASK_STATE = 'ProcessPartition';

export interface MapProgress {
  readonly total: number | undefined;
  readonly started: number;
  readonly succeeded: number;
  readonly failed: number;
  /** The newest history event already counted. */
  readonly lastEventId: number;
  /** Set once a Distributed Map run has started: its item counts replace the history's. */
  readonly mapRunArn?: string;
}

export const NO_PROGRESS: MapProgress = { total: undefined, started: 0, succeeded: 0, failed: 0, lastEventId: 0 };

/** Folds execution history events (oldest first) into partition progress; events already counted are skipped. */
export function applyHistory(progress: MapProgress, events: readonly HistoryEvent[]): MapProgress {
  let { total, started, succeeded, failed, lastEventId, mapRunArn } = progress;
  for (const event of events) {
    const id = event.id ?? 0;
    if (id <= lastEventId) continue;
    lastEventId = id;
    // The first Map to start is the batch's; a later one is a split partition's two halves.
    if (event.type === 'MapStateStarted') total ??= event.mapStateStartedEventDetails?.length;
    else if (event.type === 'MapIterationStarted') started += 1;
    else if (event.type === 'TaskStateExited' && event.stateExitedEventDetails?.name === PARTITION_TASK_STATE) succeeded += 1;
    else if (event.type === 'PassStateExited' && event.stateExitedEventDetails?.name === PARTITION_FAILED_STATE) failed += 1;
    else if (event.type === 'MapRunStarted') mapRunArn = event.mapRunStartedEventDetails?.mapRunArn ?? mapRunArn;
  }
  return { total, started, succeeded, failed, lastEventId, ...(mapRunArn === undefined ? {} : { mapRunArn }) };
}

/**
 * A Distributed Map run's item counts as progress. A child that caught its partition's failure
 * counts as succeeded here; the report tells them apart.
 */
export function applyMapRun(progress: MapProgress, counts: MapRunItemCounts): MapProgress {
  const failed = (counts.failed ?? 0) + (counts.timedOut ?? 0) + (counts.aborted ?? 0);
  const succeeded = counts.succeeded ?? 0;
  return { ...progress, total: counts.total ?? progress.total, started: (counts.running ?? 0) + succeeded + failed, succeeded, failed };
}
