import type { BatchReport } from './batch-report.ts';
import { formatCount } from './markdown.ts';

/** `1 partition`, `2 partitions`, with thousands separators. */
export function counted(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** What a reader of the totals must also know: a partial result, outputs published in part, a cancel that came too late, a capped partition count. */
export function reportNotes(report: BatchReport): string[] {
  const notes: string[] = [];
  const t = report.totals;
  if (report.resultPartial) {
    notes.push(
      report.result === null
        ? 'there is no result: no partition’s result was merged (they failed or did not finish, or the merge failed)'
        : `the result is partial: it merges ${counted(t.succeeded, 'partition')} of ${formatCount(t.partitions + (t.unfinished ?? 0))}; the others failed or did not finish`,
    );
  }
  if (report.partlyPublished === true) {
    notes.push(
      'the reducer stopped before it wrote the run manifest: some of this run’s outputs may already be in partitions/ and rejected/, in place of an earlier run’s; a reader that follows the manifests reads none of them. Run again to publish them all',
    );
  }
  if (report.cancelledAfterCommit !== undefined) notes.push(`the cancel came after the reducer had committed the run, so it stopped nothing: ${report.cancelledAfterCommit}`);
  const capped = report.plan?.cappedAt;
  if (capped !== undefined) notes.push(`the partition count was capped at max-partitions (${formatCount(capped)}), so partitions are bigger than partition-size: raise max-partitions for more, smaller ones`);
  return notes;
}
