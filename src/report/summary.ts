import type { FailedResource } from '../aws/deploy.ts';
import { resumeSentence, rowName, type BatchReport, type PartitionRow } from './batch-report.ts';
import { escapeHtml, escapeMarkdown, formatBytes, formatCount, formatDuration } from './markdown.ts';

/** GitHub drops a step summary over 1 MiB whole; stay well inside it. */
export const SUMMARY_BYTE_LIMIT = 1024 * 1024 - 64 * 1024;
const DEFAULT_TABLE_ROWS = 200;
const GANTT_ROWS = 60;
const RESULT_CHARS = 20_000;

export interface SummaryOptions {
  readonly maxBytes?: number;
  readonly maxRows?: number;
}

/**
 * The job summary, a pure function of the report. Big batches show the failed and the slowest
 * partitions and say how many rows were left out; the whole never passes `maxBytes`.
 */
export function renderSummary(report: BatchReport, options: SummaryOptions = {}): string {
  const maxBytes = options.maxBytes ?? SUMMARY_BYTE_LIMIT;
  for (let rows = options.maxRows ?? DEFAULT_TABLE_ROWS; ; rows = Math.floor(rows / 2)) {
    const text = render(report, rows);
    if (Buffer.byteLength(text) <= maxBytes) return text;
    if (rows === 0) return truncateBytes(text, maxBytes);
  }
}

function render(report: BatchReport, maxRows: number): string {
  const shown = pickRows(report.partitions, maxRows);
  const left = report.partitions.length - shown.length;
  const resumed = resumeSentence(report);
  const sections = [statusLine(report), ...(resumed === undefined ? [] : [escapeMarkdown(resumed)]), totals(report)];
  if (report.error !== undefined) {
    sections.push(`**${escapeMarkdown(report.error.name)}**: ${escapeMarkdown(report.error.message)}`);
  }
  const failed = report.partitions.filter((row) => row.status === 'failed');
  if (failed.length > 0) {
    const listed = failed.slice(0, maxRows);
    sections.push(
      `### Failed partitions (${failed.length})\n\n| Partition | Error | Message |\n|---:|---|---|\n` +
        listed.map((row) => `| ${rowName(row)} | ${escapeMarkdown(row.error ?? '')} | ${escapeMarkdown(row.message ?? '')} |`).join('\n') +
        (failed.length > listed.length ? `\n\n${failed.length - listed.length} more failed partitions are in the JSON report.` : ''),
    );
  }
  const rejected = report.partitions.filter((row) => (row.rejected ?? 0) > 0);
  if (rejected.length > 0) {
    const samples = rejected.slice(0, 10).flatMap((row) => (row.rejectedSamples ?? []).slice(0, 3).map((sample) => ({ id: row.id, ...sample })));
    sections.push(
      `### Rejected records (${formatCount(report.totals.rejected)})\n\n| Partition | Object | Byte | Why |\n|---:|---|---:|---|\n` +
        samples.map((s) => `| ${s.id} | ${escapeMarkdown(s.key)} | ${s.offset} | ${escapeMarkdown(s.message)} |`).join('\n'),
    );
  }
  if (report.partitions.length > 0) {
    sections.push(
      `### Partitions\n\n| Partition | Status | Bytes | Records | Rejected | Duration |\n|---:|---|---:|---:|---:|---:|\n` +
        shown.map(partitionRow).join('\n') +
        (left > 0 ? `\n\n${formatCount(left)} of ${formatCount(report.partitions.length)} partitions left out: shown are the failed and the slowest. All are in the JSON report.` : ''),
    );
    const timeline = gantt(report, maxRows);
    if (timeline !== '') sections.push(timeline);
  }
  sections.push(resultBlock(report.result));
  if (report.links.length > 0) sections.push(report.links.map((link) => `[${escapeMarkdown(link.label)}](${encodeURI(link.url)})`).join(' · '));
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
  const rows: [string, string][] = [
    ['Partitions', `${formatCount(t.partitions)} (${formatCount(t.succeeded)} succeeded, ${formatCount(t.failed)} failed)`],
    ['Records', formatCount(t.records)],
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
  if (report.plan?.cappedAt !== undefined) rows.push(['Note', `partition count capped at max-partitions (${report.plan.cappedAt})`]);
  return `| | |\n|---|---:|\n${rows.map(([name, value]) => `| ${name} | ${value} |`).join('\n')}`;
}

function partitionRow(row: PartitionRow): string {
  const status = row.status === 'succeeded' ? '✅ succeeded' : '❌ failed';
  const dash = (value: number | undefined, format: (n: number) => string): string => (value === undefined ? '–' : format(value));
  return `| ${rowName(row)} | ${status} | ${formatBytes(row.bytes)} | ${dash(row.records, formatCount)} | ${dash(row.rejected, formatCount)} | ${dash(row.durationMs, formatDuration)} |`;
}

/** Failed partitions first, then the slowest; shown in partition order. */
function pickRows(rows: readonly PartitionRow[], maxRows: number): PartitionRow[] {
  if (rows.length <= maxRows) return [...rows];
  const ranked = [...rows].sort((a, b) => Number(b.status === 'failed') - Number(a.status === 'failed') || (b.durationMs ?? 0) - (a.durationMs ?? 0) || a.id - b.id);
  return ranked.slice(0, maxRows).sort((a, b) => a.id - b.id);
}

/** A mermaid timeline of the partitions; only generated names go in it, never untrusted text. */
function gantt(report: BatchReport, maxRows: number): string {
  const timed = pickRows(report.partitions.filter((row) => row.startedAt !== undefined && row.finishedAt !== undefined), Math.min(maxRows, GANTT_ROWS));
  if (timed.length === 0) return '';
  const origin = Math.min(...timed.map((row) => row.startedAt!));
  const lines = timed.map((row) => `    p${rowName(row).replace('/', '_')} :${row.status === 'failed' ? 'crit, ' : ''}${row.startedAt! - origin}, ${Math.max(1, row.finishedAt! - origin)}`);
  return ['### Timeline', '', '```mermaid', 'gantt', '    dateFormat x', '    axisFormat %M:%S.%L', '    section partitions', ...lines, '```'].join('\n');
}

function resultBlock(result: unknown): string {
  const json = JSON.stringify(result, null, 2) ?? 'null';
  const shown = json.length > RESULT_CHARS ? `${json.slice(0, RESULT_CHARS)}\n… (${formatCount(json.length - RESULT_CHARS)} more characters in the JSON report)` : json;
  return `<details><summary>Reducer result</summary>\n\n<pre>${escapeHtml(shown)}</pre>\n\n</details>`;
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
