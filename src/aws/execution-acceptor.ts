import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';

export type WaiterState = 'SUCCESS' | 'FAILURE' | 'RETRY';

/** Maps one DescribeExecution response to the waiter's next move; no I/O, no time. */
export function executionAcceptor(response: Pick<DescribeExecutionCommandOutput, 'status'>): WaiterState {
  switch (response.status) {
    case 'SUCCEEDED':
      return 'SUCCESS';
    case 'FAILED':
    case 'TIMED_OUT':
    case 'ABORTED':
      return 'FAILURE';
    default:
      // RUNNING, and PENDING_REDRIVE (a redrive that has not started yet).
      return 'RETRY';
  }
}
