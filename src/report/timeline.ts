import { rowName, type PartitionRow } from './batch-report.ts';
import { formatCount } from './markdown.ts';

/** At most this many lanes (rows) and bars: a chart people can read, well inside mermaid's 50,000-character default limit. */
export const TIMELINE_LANES = 40;
export const TIMELINE_BARS = 1000;

/**
 * The Lambda environments that ran partitions, numbered 1, 2, ... in the order they first
 * started one. The summary shows these numbers, never the names: a name comes from the
 * environment a handler ran in.
 */
export function laneNumbers(rows: readonly PartitionRow[]): Map<string, number> {
  const firstStart = new Map<string, number>();
  for (const row of rows) {
    if (row.lane === undefined || row.startedAt === undefined) continue;
    firstStart.set(row.lane, Math.min(firstStart.get(row.lane) ?? Infinity, row.startedAt));
  }
  return new Map([...firstStart.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([lane], index) => [lane, index + 1]));
}

/**
 * A mermaid gantt chart with one row per Lambda environment (compact mode puts a lane's partitions
 * side by side, so the gaps where it sat idle show). Over TIMELINE_LANES lanes or TIMELINE_BARS
 * partitions it shows the lanes that started first, and says how many partitions it shows.
 * Only generated names go in the chart, never text from the data.
 */
export function renderTimeline(rows: readonly PartitionRow[]): string {
  const timed = rows.filter((row) => row.startedAt !== undefined && row.finishedAt !== undefined);
  if (timed.length === 0) return '';
  const byLane = groupByLane(timed);
  const shownLanes: string[] = [];
  let bars = 0;
  for (const [lane, laneRows] of byLane) {
    if (shownLanes.length === TIMELINE_LANES || bars + laneRows.length > TIMELINE_BARS) break;
    shownLanes.push(lane);
    bars += laneRows.length;
  }
  const origin = Math.min(...timed.map((row) => row.startedAt!));
  const lines = shownLanes.flatMap((lane) => [
    `    section ${lane}`,
    ...byLane.get(lane)!.map((row) => `    p${rowName(row).replace('/', '_')} :${row.status === 'failed' ? 'crit, ' : ''}${row.startedAt! - origin}, ${Math.max(row.startedAt! - origin + 1, row.finishedAt! - origin)}`),
  ]);
  const untimed = rows.length - timed.length;
  const shown =
    bars === timed.length
      ? `All ${formatCount(bars)} timed partitions, one row per Lambda environment (${formatCount(byLane.size)}).`
      : `Showing ${formatCount(bars)} of ${formatCount(timed.length)} timed partitions: the first ${formatCount(shownLanes.length)} of ${formatCount(byLane.size)} Lambda environments to start. All partitions are in the JSON report.`;
  const note = untimed > 0 ? ` ${formatCount(untimed)} partitions have no timing (failed ones): see the table.` : '';
  return ['### Timeline by Lambda environment', '', `${shown}${note}`, '', '```mermaid', '---', 'displayMode: compact', '---', 'gantt', '    dateFormat x', '    axisFormat %M:%S', ...lines, '```'].join('\n');
}

/**
 * Rows by lane, each lane's rows by start time, lanes in the order they first started. A row with
 * no recorded environment goes to the first `slot` free at its start (greedy interval packing):
 * the fewest rows that show the same parallelism.
 */
function groupByLane(rows: readonly PartitionRow[]): Map<string, PartitionRow[]> {
  const numbers = laneNumbers(rows);
  const sorted = [...rows].sort((a, b) => a.startedAt! - b.startedAt! || a.id - b.id);
  const groups = new Map<string, PartitionRow[]>();
  const slotsFreeAt: number[] = [];
  for (const row of sorted) {
    let name: string;
    if (row.lane !== undefined) name = `lane ${numbers.get(row.lane)!}`;
    else {
      let slot = slotsFreeAt.findIndex((freeAt) => freeAt <= row.startedAt!);
      if (slot === -1) slot = slotsFreeAt.push(0) - 1;
      slotsFreeAt[slot] = row.finishedAt!;
      name = `slot ${slot + 1} (environment not recorded)`;
    }
    const group = groups.get(name);
    if (group === undefined) groups.set(name, [row]);
    else group.push(row);
  }
  return groups;
}
