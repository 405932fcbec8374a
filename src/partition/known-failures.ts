/**
 * A failure the state machine's Catch made travels as its error name only (its cause could be of
 * any size, and a state may hold 256 KiB). These names say enough: the reducer writes what each
 * means, and where the rest is, as the cause of the failed partition.
 */
export function knownFailureCause(error: string, workerTimeoutSeconds?: number): string {
  return JSON.stringify({ errorType: error, errorMessage: knownFailureMessage(error, workerTimeoutSeconds), trace: [] });
}

const SEE_HISTORY = "the full cause is in the execution's history (for EXPRESS children, in the state machine's log group)";

function knownFailureMessage(error: string, workerTimeoutSeconds: number | undefined): string {
  if (error === 'Sandbox.Timedout') {
    const after = workerTimeoutSeconds === undefined ? '' : `Task timed out after ${workerTimeoutSeconds.toFixed(2)} seconds: `;
    return `${after}the worker ran past its Timeout (WorkerTimeout) and Lambda stopped it. Lower partition-size, or give the workers more memory (CPU) or a longer timeout.`;
  }
  if (error === 'States.Timeout') return "The Task's TimeoutSeconds passed before the worker returned.";
  if (error === 'Lambda.TooManyRequestsException') {
    return "Lambda throttled the worker for longer than the template's retries wait: the account's Lambda concurrency is below what the Map runs at once. Lower max-concurrency, or ask AWS for more concurrency.";
  }
  if (error === 'States.DataLimitExceeded') return `A state's input or output passed Step Functions' 256 KiB limit; ${SEE_HISTORY}.`;
  if (error.startsWith('Runtime.')) return `The worker's runtime failed before it returned (${error}: a crash, or out of memory); its error is in the worker's log (in AWS its log group; locally the run's console, labelled with the partition).`;
  if (error.startsWith('Lambda.')) return `Lambda could not run the worker (${error}), still after the template's retries; ${SEE_HISTORY}.`;
  return `The worker failed with ${error}; ${SEE_HISTORY}.`;
}
