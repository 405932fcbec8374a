import { mapLimited } from '../concurrency.ts';
import { MissingObjectError, errorMessage } from '../errors.ts';
import { causeMessage } from '../lambda-error.ts';
import { outcomeKey } from '../partition/commit.ts';
import { knownFailureCause } from '../partition/known-failures.ts';
import { BATCH_FILE, runKey, type FailedSummary, type PartitionOutcome, type PartitionSummary } from '../partition/outcome.ts';
import type { BatchFile } from '../steps/steps.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readJsonIfPresent } from '../store/read-json.ts';
import type { KnownOutcome } from './batch-report.ts';

/** What an engine finds of a run's own files once its execution is over. */
export interface RunFiles {
  /** The batch file, when the reducer wrote it. */
  readonly batch?: BatchFile;
  /** Whether the run manifest, the reducer's last write (its commit point), is there. */
  readonly committed: boolean;
  /** Why the batch file or manifest could not be read, other than being absent: the run's status is then unknown. */
  readonly unreadable?: { readonly name: string; readonly cause: string };
}

/**
 * Reads the batch file and checks for the manifest. Absent files are facts (the reducer never
 * wrote them); a read that fails or is cancelled is not, and must never pass for a run that
 * succeeded with no partitions.
 */
export async function readRunFiles(store: ObjectStore, runId: string): Promise<RunFiles> {
  const batchKey = runKey(runId, BATCH_FILE);
  let batch: BatchFile | undefined;
  try {
    batch = await readJsonIfPresent<BatchFile>(store, batchKey);
    if (batch === undefined) return { committed: false };
    return { batch, committed: await exists(store, batch.manifest) };
  } catch (error) {
    const what = batch === undefined ? `the run's batch file ${store.uriOf(batchKey)}` : `the run's manifest ${store.uriOf(batch.manifest)}`;
    return {
      ...(batch === undefined ? {} : { batch }),
      committed: false,
      unreadable: { name: 'RunFilesUnreadable', cause: `Could not read ${what}, so this run's outcome is unknown: ${errorMessage(error)}` },
    };
  }
}

async function exists(store: ObjectStore, key: string): Promise<boolean> {
  try {
    for await (const _chunk of store.read(key, { start: 0, end: 1 })) break;
    return true;
  } catch (error) {
    if (error instanceof MissingObjectError) return false;
    throw error;
  }
}

/** The execution's error, if any, then why the run's files could not be read. */
export function combinedError(execution: { name: string; cause: string } | undefined, unreadable: { name: string; cause: string }): { name: string; cause: string } {
  return execution === undefined ? unreadable : { name: execution.name, cause: `${causeMessage(execution.cause)} ${unreadable.cause}` };
}

/**
 * The partitions that finished, for a run with no batch file: what the Map carried of each is its
 * name, its attempt and a count, so each is read from its attempt's outcome file, as the reducer
 * would have (the result left out). A summary whose file cannot be read is kept as it is; a failure
 * known only by name gets what the name means.
 */
export async function readFinishedOutcomes(store: ObjectStore, runId: string, seen: readonly (PartitionSummary | FailedSummary)[]): Promise<KnownOutcome[]> {
  return mapLimited(seen, 16, async (summary): Promise<KnownOutcome> => {
    if (summary.attempt === undefined) return summary.status === 'failed' ? { ...summary, cause: summary.cause ?? knownFailureCause(summary.error) } : summary;
    const outcome = await readJsonIfPresent<PartitionOutcome>(store, outcomeKey(runId, { ...summary, attempt: summary.attempt })).catch(() => undefined);
    if (outcome === undefined) return summary;
    return outcome.status === 'succeeded' ? { ...outcome, result: null } : outcome;
  });
}
