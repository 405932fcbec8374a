import type { PartitionRow } from './batch-report.ts';
import { formatCount, formatDuration } from './markdown.ts';

const BINS = 10;
const BAR_WIDTH = 30;

/** The value at quantile q (0-1) of sorted values: nearest rank, so it is always one of them. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * How long partitions took: percentiles, then a histogram of ten equal bins from the fastest to
 * the slowest, as a table (it renders wherever the summary does, and stays small at any scale).
 */
export function renderDurations(rows: readonly PartitionRow[]): string {
  const durations = rows.flatMap((row) => (row.durationMs === undefined ? [] : [row.durationMs])).sort((a, b) => a - b);
  if (durations.length === 0) return '';
  const at = (q: number): string => formatDuration(quantile(durations, q));
  const percentiles = `| Partitions | Fastest | p50 | p90 | p99 | Slowest |\n|---:|---:|---:|---:|---:|---:|\n| ${formatCount(durations.length)} | ${at(0)} | ${at(0.5)} | ${at(0.9)} | ${at(0.99)} | ${at(1)} |`;
  const low = durations[0]!;
  const width = (durations.at(-1)! - low) / BINS;
  if (width === 0) return `### Durations\n\n${percentiles}`;
  const counts = new Array<number>(BINS).fill(0);
  for (const duration of durations) counts[Math.min(BINS - 1, Math.floor((duration - low) / width))]! += 1;
  const most = Math.max(...counts);
  const bins = counts.map((count, bin) => {
    const bar = count === 0 ? '' : '█'.repeat(Math.max(1, Math.round((count / most) * BAR_WIDTH)));
    return `| ${formatDuration(low + bin * width)} – ${formatDuration(low + (bin + 1) * width)} | ${formatCount(count)} | ${bar} |`;
  });
  return `### Durations\n\n${percentiles}\n\n| Duration | Partitions | |\n|---|---:|---|\n${bins.join('\n')}`;
}
