import { resumeSentence, rowName, type BatchProgress, type BatchReport } from './batch-report.ts';
import { formatBytes, formatCount, formatDuration } from './markdown.ts';
import { counted, reportNotes } from './notes.ts';

/**
 * Control characters (escape sequences, carriage returns, backspaces) and Unicode direction
 * overrides: in data they could recolour, rewrite or hide what a terminal or a CI log shows.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Text made safe for a terminal or a CI log: every control character removed but new lines and tabs. */
export function consoleText(text: string): string {
  return text.replace(CONTROL, '');
}

/** A value from the data on one line of its own row: it cannot start a line of its own. */
function field(text: string | undefined): string {
  return consoleText(text ?? '').replace(/[\n\t]+/g, ' ');
}

/** The partition table and totals as plain text, for a terminal or a CI log. */
export function renderConsoleReport(report: BatchReport, maxRows = 50): string {
  const header = ['partition', 'status', 'bytes', 'read', 'handed', 'rejected', 'duration'];
  const count = (n: number | undefined): string => (n === undefined ? '-' : formatCount(n));
  const rows = report.partitions.slice(0, maxRows).map((row) => [
    rowName(row),
    row.status,
    row.bytes === undefined ? '-' : formatBytes(row.bytes),
    count(row.records),
    count(row.handed),
    count(row.rejected),
    row.durationMs === undefined ? '-' : formatDuration(row.durationMs),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const lines = [line(header), ...rows.map(line)];
  if (report.partitions.length > maxRows) lines.push(`... ${formatCount(report.partitions.length - maxRows)} more partitions in the JSON report`);
  for (const row of report.partitions.filter((r) => r.status === 'failed').slice(0, 10)) {
    lines.push(`partition ${rowName(row)} failed: ${field(row.error)}: ${field(row.message)}`);
  }
  lines.push('', totalsLine(report));
  const resumed = resumeSentence(report);
  if (resumed !== undefined) lines.push(field(resumed));
  for (const note of reportNotes(report)) lines.push(`note: ${note}`);
  if (report.error !== undefined) lines.push(`error: ${field(report.error.name)}: ${field(report.error.message)}`);
  return lines.join('\n');
}

/** The totals in one line: partitions by outcome, records read, handed over and rejected, bytes, time. */
export function totalsLine(report: BatchReport): string {
  const t = report.totals;
  const parallelism = report.wallMs > 0 ? (t.workerMs / report.wallMs).toFixed(1) : '0.0';
  const unfinished = (t.unfinished ?? 0) > 0 ? `, ${formatCount(t.unfinished!)} not finished` : '';
  return `${report.status}: ${counted(t.partitions + (t.unfinished ?? 0), 'partition')} (${formatCount(t.succeeded)} succeeded, ${formatCount(t.failed)} failed${unfinished}), ${counted(t.records, 'record')} read (${formatCount(t.handed)} handed to the handler, ${formatCount(t.rejected)} rejected), ${formatBytes(t.bytes)} in ${formatDuration(report.wallMs)} (parallelism ${parallelism}x)`;
}

/** One progress line: partitions done / running / failed, records/s and an ETA. */
export function renderProgress(progress: BatchProgress, elapsedMs: number): string {
  const done = progress.succeeded + progress.failed;
  const total = progress.total === undefined ? '?' : String(progress.total);
  const eta = progress.total !== undefined && done > 0 && done < progress.total ? ` · ETA ${formatDuration((elapsedMs / done) * (progress.total - done))}` : '';
  const rate = progress.records === undefined || elapsedMs <= 0 ? '' : ` · ${formatCount(Math.round((progress.records / elapsedMs) * 1000))} records/s`;
  return `partitions ${done}/${total} done · ${progress.running} running · ${progress.failed} failed${rate}${eta}`;
}
