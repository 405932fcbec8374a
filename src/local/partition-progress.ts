import { partitionResults, type FailedSummary, type MapResult, type PartitionSummary } from '../partition/outcome.ts';
import type { BatchProgress } from '../report/batch-report.ts';

/**
 * Where a local run stands, counted by planned partition: a partition split after a timeout is
 * one partition, done when its halves are (failed if either failed); a batch counts each of its
 * partitions. The results seen are kept: read in full from their outcome files, they are the report's rows if the reducer never writes
 * its batch file.
 */
export class PartitionProgress {
  /** Partitions planned, once the partitioner has said. */
  total: number | undefined;
  readonly seen: (PartitionSummary | FailedSummary)[] = [];
  #succeeded = 0;
  #failed = 0;
  #records = 0;

  /** One finished Map iteration (a partition, the halves of a split one, or a batch); undefined when it failed outside any Catch. */
  finished(output: unknown): void {
    if (output === undefined || output === null) {
      this.#failed += 1;
      return;
    }
    const results = partitionResults([output as MapResult]);
    this.seen.push(...results);
    const failedIds = new Set(results.filter((result) => result.status === 'failed').map((result) => result.id));
    for (const id of new Set(results.map((result) => result.id))) {
      if (failedIds.has(id)) this.#failed += 1;
      else this.#succeeded += 1;
    }
    for (const result of results) if (result.status === 'succeeded') this.#records += result.records;
  }

  snapshot(running: number): BatchProgress {
    return { total: this.total, running, succeeded: this.#succeeded, failed: this.#failed, records: this.#records };
  }
}
