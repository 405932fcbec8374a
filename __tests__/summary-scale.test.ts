import type { BatchReport, PartitionRow } from '../src/report/batch-report.ts';
import { renderSummary } from '../src/report/summary.ts';
import { mermaidBlocks, renderInChromium } from '../scripts/check-mermaid.ts';
import { mulberry32 } from '../examples/log-analytics/generate.ts';

/**
 * 1,000 partitions run by 40 Lambda environments, each taking the next partition when free (with an
 * idle gap now and then), and 12 failed partitions, which have no timing.
 */
function thousandPartitions(): BatchReport {
  const next = mulberry32(7);
  const lanes = Array.from({ length: 40 }, (_, i) => ({ name: `2026/11/28/[$LATEST]${String(i).padStart(32, '0')}`, freeAt: 0 }));
  const partitions: PartitionRow[] = [];
  for (let id = 0; id < 1000; id += 1) {
    if (id % 83 === 82) {
      partitions.push({ id, status: 'failed', bytes: 1000, error: 'Sandbox.Timedout', message: `Task timed out after 900.00 seconds (${id})` });
      continue;
    }
    const lane = lanes.reduce((a, b) => (b.freeAt < a.freeAt ? b : a));
    const startedAt = lane.freeAt + (next() < 0.1 ? Math.round(next() * 5000) : 0);
    const durationMs = Math.round(2000 + next() * 8000 + (next() < 0.02 ? 30_000 : 0));
    lane.freeAt = startedAt + durationMs;
    partitions.push({ id, status: 'succeeded', bytes: 64 * 1024 * 1024, records: 1000 + id, handed: 1000 + id, rejected: 0, lane: lane.name, startedAt, finishedAt: startedAt + durationMs, durationMs });
  }
  const succeeded = partitions.filter((row) => row.status === 'succeeded');
  return {
    engine: 'aws',
    runId: 'nightly',
    status: 'FAILED',
    input: 's3://in/logs/',
    output: 's3://out/batch/',
    format: 'ndjson',
    startedAt: 0,
    finishedAt: 300_000,
    wallMs: 300_000,
    totals: {
      partitions: 1000,
      succeeded: succeeded.length,
      failed: 1000 - succeeded.length,
      records: succeeded.reduce((sum, row) => sum + row.records!, 0),
      handed: succeeded.reduce((sum, row) => sum + row.handed!, 0),
      rejected: 0,
      bytes: 1000 * 1000,
      workerMs: succeeded.reduce((sum, row) => sum + row.durationMs!, 0),
      unfinished: 0,
    },
    partitions,
    result: { requests: 1 },
    resultPartial: true,
    links: [{ label: 'Stack in the CloudFormation console', url: 'https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/stackinfo?stackId=arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2Ffanout%2Fabc' }],
  };
}

/** The smallest duration d with at least q of all durations at or under it: percentiles by counting. */
function percentileByCounting(durations: readonly number[], q: number): number {
  return Math.min(...durations.filter((d) => durations.filter((other) => other <= d).length >= q * durations.length));
}

const cell = (line: string, column: number): string => line.split(' | ')[column]!.replace(/^\| /, '').replace(/ \|$/, '');

describe('the job summary at 1,000 partitions', () => {
  const report = thousandPartitions();
  const text = renderSummary(report);
  const durations = report.partitions.flatMap((row) => (row.durationMs === undefined ? [] : [row.durationMs]));

  it('puts the totals first, then the failed partitions, the slowest, the durations, the timeline, and folds the table of all', () => {
    const order = ['| Partitions | 1,000 (988 succeeded, 12 failed) |', '> **Note:** the result is partial', '### Failed partitions (12)', '### Slowest partitions', '### Durations', '### Timeline by Lambda environment', '<details><summary>All partitions (1,000)</summary>', '<summary>Reducer result (partial'];
    const at = order.map((heading) => text.indexOf(heading));
    expect(at.every((position) => position > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // Everything above the folded table but the timeline's chart source is a page, not a thousand lines.
    const above = text.slice(0, text.indexOf('<details>')).split('\n').filter((line) => !line.startsWith('    p'));
    expect(above.length).toBeLessThan(140);
  });

  it('lists exactly the failed partitions and the ten slowest, counted independently', () => {
    const failedRows = text.slice(text.indexOf('### Failed partitions'), text.indexOf('### Slowest')).split('\n').filter((line) => /^\| \d/.test(line));
    expect(failedRows.map((line) => Number(cell(line, 0)))).toEqual(report.partitions.filter((row) => row.status === 'failed').map((row) => row.id));
    const slowRows = text.slice(text.indexOf('### Slowest'), text.indexOf('### Durations')).split('\n').filter((line) => /^\| \d/.test(line));
    const slowest = report.partitions.filter((row) => row.durationMs !== undefined).sort((a, b) => b.durationMs! - a.durationMs! || a.id - b.id).slice(0, 10);
    expect(slowRows.map((line) => Number(cell(line, 0)))).toEqual(slowest.map((row) => row.id));
  });

  it('gives percentiles and a histogram that agree with a count of the durations', () => {
    const section = text.slice(text.indexOf('### Durations'), text.indexOf('### Timeline'));
    const seconds = (d: number): string => `${(d / 1000).toFixed(1)} s`;
    expect(section).toContain(`| 988 | ${seconds(Math.min(...durations))} | ${seconds(percentileByCounting(durations, 0.5))} | ${seconds(percentileByCounting(durations, 0.9))} | ${seconds(percentileByCounting(durations, 0.99))} | ${seconds(Math.max(...durations))} |`);
    const bins = section.split('\n').filter((line) => / – /.test(line));
    expect(bins).toHaveLength(10);
    expect(bins.reduce((sum, line) => sum + Number(cell(line, 1).replace(/,/g, '')), 0)).toBe(988);
    const low = Math.min(...durations);
    const width = (Math.max(...durations) - low) / 10;
    expect(Number(cell(bins[0]!, 1))).toBe(durations.filter((d) => d < low + width).length);
  });

  it('draws one timeline row per Lambda environment, each partition once, and says so', () => {
    const [chart] = mermaidBlocks(text);
    expect(text).toContain('All 988 timed partitions, one row per Lambda environment (40). 12 partitions have no timing (failed ones): see the table.');
    expect(chart!.split('\n').filter((line) => line.startsWith('    section lane '))).toHaveLength(40);
    const bars = chart!.split('\n').filter((line) => line.startsWith('    p'));
    expect(bars.map((line) => Number(/^ {4}p(\d+) /.exec(line)![1])).sort((a, b) => a - b)).toEqual(report.partitions.filter((row) => row.durationMs !== undefined).map((row) => row.id));
    // Below mermaid's default maxTextSize (50,000), past which it draws an error instead.
    expect(chart!.length).toBeLessThan(50_000);
  });

  it('says how many partitions the timeline shows when it cannot show them all', () => {
    const many = { ...report, partitions: report.partitions.map((row) => (row.lane === undefined ? row : { ...row, lane: `${row.lane}-${row.id % 80}` })) };
    const [chart] = mermaidBlocks(renderSummary(many));
    const bars = chart!.split('\n').filter((line) => line.startsWith('    p')).length;
    expect(renderSummary(many)).toContain(`Showing ${bars} of 988 timed partitions: the first 40 of `);
    expect(chart!.split('\n').filter((line) => line.startsWith('    section '))).toHaveLength(40);
  });

  it('links the console with the URL as the engine encoded it, not encoded twice', () => {
    expect(text).toContain('(https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/stackinfo?stackId=arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2Ffanout%2Fabc)');
    expect(text).not.toContain('%253A');
  });

  it('renders in headless Chromium with mermaid: no mermaid error, a bar per partition shown, a row per lane', () => {
    // One launch: the summary's chart, and a chart past mermaid's 50,000-character limit, which must come back as an error.
    const tooBig = ['gantt', '    dateFormat x', '    section lane 1', ...Array.from({ length: 2500 }, (_, i) => `    p${i} :${i * 10}, ${i * 10 + 5}`)].join('\n');
    const rendered = renderInChromium([...mermaidBlocks(text), tooBig]);
    if (rendered === undefined) {
      // CI installs Chromium (.ci/run): there a missing one is a failure, not a reason to skip.
      if (process.env.CI === 'true') throw new Error('Chromium is not installed: .ci/run installs it with apt-get install -y chromium.');
      console.warn('Skipped the Chromium rendering check: chromium is not installed (apt-get install -y chromium).');
      return;
    }
    const [summary, broken] = rendered;
    expect(summary).toEqual({ bars: 988, rows: 40, sections: Array.from({ length: 40 }, (_, i) => `lane ${i + 1}`) });
    // The check is not blind to errors.
    expect(broken!.error).toMatch(/Maximum text size in diagram exceeded/);
  });
});
