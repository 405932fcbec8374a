import type { FailedResource } from '../aws/deploy.ts';
import { resumeSentence, rowName, type BatchReport, type PartitionRow } from './batch-report.ts';
import { reportNotes } from './notes.ts';
import { renderDurations } from './durations.ts';
import { escapeHtml, escapeMarkdown, formatBytes, formatCount, formatDuration, jsonPreview } from './markdown.ts';
import { laneNumbers, renderTimeline } from './timeline.ts';

/** GitHub drops a step summary over 1 MiB whole; stay well inside it. */
export const SUMMARY_BYTE_LIMIT = 1024 * 1024 - 64 * 1024;
/** Rows of the folded table of every partition; fewer when the summary would not fit. */
const DEFAULT_TABLE_ROWS = 10_000;
const FAILED_ROWS = 50;
const SLOWEST_ROWS = 10;
const SAMPLE_ROWS = 30;
/** Characters of an error message or a rejected record's reason a table cell shows. */
const MESSAGE_CHARS = 300;
const RESULT_CHARS = 20_000;

export interface SummaryOptions {
  readonly maxBytes?: number;
  readonly maxRows?: number;
}

/**
 * The job summary, a pure function of the report, readable at 1,000 partitions and more: totals
 * first, then the failed partitions, the slowest few, the spread of durations, a timeline by
 * Lambda environment, and the table of every partition folded away. Each section says how many
 * rows it leaves out; the whole never passes `maxBytes` (the folded table gives way first).
 */
export function renderSummary(report: BatchReport, options: SummaryOptions = {}): string {
  const maxBytes = options.maxBytes ?? SUMMARY_BYTE_LIMIT;
  for (let rows = options.maxRows ?? DEFAULT_TABLE_ROWS; ; rows = Math.floor(rows / 2)) {
    const text = render(report, rows);
    if (Buffer.byteLength(text) <= maxBytes) return text;
    if (rows === 0) return truncateBytes(text, maxBytes);
  }
}

function render(report: BatchReport, tableRows: number): string {
  const resumed = resumeSentence(report);
  const sections = [statusLine(report), ...(resumed === undefined ? [] : [escapeMarkdown(resumed)]), totals(report)];
  const notes = reportNotes(report);
  if (notes.length > 0) sections.push(notes.map((note) => `> **Note:** ${escapeMarkdown(note)}`).join('\n>\n'));
  if (report.error !== undefined) {
    sections.push(`**${escapeMarkdown(report.error.name)}**: ${escapeMarkdown(clip(report.error.message, 2000))}`);
  }
  const lanes = laneNumbers(report.partitions);
  const failed = report.partitions.filter((row) => row.status === 'failed');
  if (failed.length > 0) {
    sections.push(
      `### Failed partitions (${formatCount(failed.length)})\n\n| Partition | Error | Message | Read | Rejected |\n|---:|---|---|---:|---:|\n` +
        failed
          .slice(0, FAILED_ROWS)
          .map((row) => `| ${rowName(row)} | ${escapeMarkdown(row.error ?? '')} | ${escapeMarkdown(clip(row.message ?? '', MESSAGE_CHARS))} | ${dash(row.records, formatCount)} | ${dash(row.rejected, formatCount)} |`)
          .join('\n') +
        more(failed.length, FAILED_ROWS, 'failed partitions'),
    );
  }
  const timed = report.partitions.filter((row) => row.durationMs !== undefined);
  if (timed.length > 1) {
    const slowest = [...timed].sort((a, b) => b.durationMs! - a.durationMs! || a.id - b.id).slice(0, SLOWEST_ROWS);
    sections.push(
      `### Slowest partitions\n\n| Partition | Duration | Bytes | Read | Lambda environment |\n|---:|---:|---:|---:|---:|\n` +
        slowest.map((row) => `| ${rowName(row)} | ${formatDuration(row.durationMs!)} | ${dash(row.bytes, formatBytes)} | ${dash(row.records, formatCount)} | ${laneOf(row, lanes)} |`).join('\n'),
    );
    sections.push(renderDurations(report.partitions));
  }
  const rejected = report.partitions.filter((row) => (row.rejectedSamples ?? []).length > 0);
  if (rejected.length > 0) {
    const samples = rejected.flatMap((row) => (row.rejectedSamples ?? []).slice(0, 3).map((sample) => ({ name: rowName(row), ...sample }))).slice(0, SAMPLE_ROWS);
    sections.push(
      `### Rejected records (${formatCount(report.totals.rejected)})\n\n| Partition | Object | Byte | Why |\n|---:|---|---:|---|\n` +
        samples.map((s) => `| ${s.name} | ${escapeMarkdown(clip(s.key, MESSAGE_CHARS))} | ${s.offset} | ${escapeMarkdown(clip(s.message, MESSAGE_CHARS))} |`).join('\n') +
        `\n\nSamples: up to 3 a partition. Every rejected record is in \`rejected/part-NNNNN.jsonl\` under the output.`,
    );
  }
  const timeline = renderTimeline(report.partitions);
  if (timeline !== '') sections.push(timeline);
  if (report.partitions.length > 0) sections.push(partitionTable(report.partitions, tableRows, lanes));
  sections.push(resultBlock(report.result, report.resultPartial));
  if (report.links.length > 0) sections.push(report.links.map((link) => `[${escapeMarkdown(link.label)}](${markdownUrl(link.url)})`).join(' · '));
  return sections.join('\n\n') + '\n';
}

function statusLine(report: BatchReport): string {
  const icon = report.status === 'SUCCEEDED' ? '✅' : '❌';
  const verb = report.status === 'SUCCEEDED' ? 'succeeded' : 'failed';
  return `## ${icon} sfn-fanout batch ${verb}\n\n${report.engine} engine · run ${escapeMarkdown(report.runId)} · ${escapeMarkdown(report.format)} from ${escapeMarkdown(report.input)} to ${escapeMarkdown(report.output)}`;
}

function totals(report: BatchReport): string {
  const t = report.totals;
  const parallelism = report.wallMs > 0 ? t.workerMs / report.wallMs : 0;
  const unfinished = (t.unfinished ?? 0) > 0 ? `, ${formatCount(t.unfinished!)} not finished` : '';
  const rows: [string, string][] = [
    ['Partitions', `${formatCount(t.partitions + (t.unfinished ?? 0))} (${formatCount(t.succeeded)} succeeded, ${formatCount(t.failed)} failed${unfinished})`],
    ['Records read', formatCount(t.records)],
    ['Handed to the handler', formatCount(t.handed)],
    ['Rejected records', formatCount(t.rejected)],
    ['Bytes', formatBytes(t.bytes)],
    ['Wall time', formatDuration(report.wallMs)],
    ['Summed worker time', formatDuration(t.workerMs)],
    ['Effective parallelism', `${parallelism.toFixed(1)}×`],
  ];
  if (report.cost !== undefined) {
    const c = report.cost;
    rows.push(['Estimated cost', `$${c.usd.toFixed(4)} (${c.lambdaGbSeconds.toFixed(1)} GB-s, ${formatCount(c.requests)} requests, ${formatCount(c.stateTransitions)} state transitions)`]);
  }
  const adapted = report.plan?.adapted;
  if (adapted !== undefined) {
    rows.push(['Partition size', `at most ${formatBytes(adapted.maxPartitionBytes)}: run ${escapeMarkdown(adapted.fromRun)} measured ${formatBytes(adapted.bytesPerSecond)}/s, and a partition gets half the worker timeout`]);
  }
  const splits = new Set(report.partitions.filter((row) => row.split !== undefined).map((row) => row.id)).size;
  if (splits > 0) rows.push(['Split after a timeout', `${formatCount(splits)} partitions, each run again as two halves (rows n/1 and n/2)`]);
  return `| | |\n|---|---:|\n${rows.map(([name, value]) => `| ${name} | ${value} |`).join('\n')}`;
}

/** Every partition in id order, folded: it can be long. */
function partitionTable(rows: readonly PartitionRow[], maxRows: number, lanes: ReadonlyMap<string, number>): string {
  const shown = rows.slice(0, maxRows);
  const status = (row: PartitionRow): string => (row.status === 'succeeded' ? '✅ succeeded' : '❌ failed');
  const table =
    '| Partition | Status | Bytes | Read | Handed | Rejected | Duration | Lambda environment |\n|---:|---|---:|---:|---:|---:|---:|---:|\n' +
    shown
      .map((row) => `| ${rowName(row)} | ${status(row)} | ${dash(row.bytes, formatBytes)} | ${dash(row.records, formatCount)} | ${dash(row.handed, formatCount)} | ${dash(row.rejected, formatCount)} | ${dash(row.durationMs, formatDuration)} | ${laneOf(row, lanes)} |`)
      .join('\n');
  const left = rows.length > shown.length ? `\n\nThe first ${formatCount(shown.length)} of ${formatCount(rows.length)} partitions: all are in the JSON report.` : '';
  return `<details><summary>All partitions (${formatCount(rows.length)})</summary>\n\n${table}${left}\n\n</details>`;
}

function laneOf(row: PartitionRow, lanes: ReadonlyMap<string, number>): string {
  return row.lane === undefined ? '–' : String(lanes.get(row.lane) ?? '–');
}

function dash(value: number | undefined, format: (n: number) => string): string {
  return value === undefined ? '–' : format(value);
}

function more(total: number, shown: number, what: string): string {
  return total > shown ? `\n\n${formatCount(total - shown)} more ${what} are in the JSON report.` : '';
}

function clip(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars)}… (${formatCount(text.length)} characters in the JSON report)`;
}

/**
 * A URL the engine made, as a Markdown link target: it is already percent-encoded (encoding it again
 * turns a stack id's %3A into %253A); only what would end the link is encoded.
 */
export function markdownUrl(url: string): string {
  return url.replace(/[\s()<>]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function resultBlock(result: unknown, partial: boolean): string {
  const preview = jsonPreview(result, RESULT_CHARS);
  const shown = preview.cut ? `${preview.text}\n… (the rest is in the JSON report)` : preview.text;
  return `<details><summary>Reducer result${partial ? ' (partial: see the note above)' : ''}</summary>\n\n<pre>${escapeHtml(shown)}</pre>\n\n</details>`;
}

/** The summary of a deploy that failed before any execution: every failed resource and why. */
export function renderDeployFailure(stackName: string, message: string, failures: readonly FailedResource[]): string {
  const table =
    failures.length === 0
      ? ''
      : `\n\n| Resource | Type | Status | Reason |\n|---|---|---|---|\n${failures.map((f) => `| ${escapeMarkdown(f.logicalId)} | ${escapeMarkdown(f.type)} | ${escapeMarkdown(f.status)} | ${escapeMarkdown(f.reason)} |`).join('\n')}`;
  return `## ❌ sfn-fanout could not deploy stack ${escapeMarkdown(stackName)}\n\n${escapeMarkdown(message.split('\n')[0] ?? '')}${table}\n`;
}

function truncateBytes(text: string, maxBytes: number): string {
  const note = '\n\n(Summary cut to fit GitHub’s size limit; see the JSON report.)\n';
  return Buffer.from(text).subarray(0, maxBytes - Buffer.byteLength(note)).toString('utf8').replace(/\uFFFD$/, '') + note;
}
