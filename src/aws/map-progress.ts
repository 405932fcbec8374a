import type { HistoryEvent } from '@aws-sdk/client-sfn';

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
}

export const NO_PROGRESS: MapProgress = { total: undefined, started: 0, succeeded: 0, failed: 0, lastEventId: 0 };

/** Folds execution history events (oldest first) into partition progress; events already counted are skipped. */
export function applyHistory(progress: MapProgress, events: readonly HistoryEvent[]): MapProgress {
  let { total, started, succeeded, failed, lastEventId } = progress;
  for (const event of events) {
    const id = event.id ?? 0;
    if (id <= lastEventId) continue;
    lastEventId = id;
    if (event.type === 'MapStateStarted') total = event.mapStateStartedEventDetails?.length ?? total;
    else if (event.type === 'MapIterationStarted') started += 1;
    else if (event.type === 'TaskStateExited' && event.stateExitedEventDetails?.name === PARTITION_TASK_STATE) succeeded += 1;
    else if (event.type === 'PassStateExited' && event.stateExitedEventDetails?.name === PARTITION_FAILED_STATE) failed += 1;
  }
  return { total, started, succeeded, failed, lastEventId };
}
