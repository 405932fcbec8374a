import fc from 'fast-check';
import { micromark } from 'micromark';
import { gfm, gfmHtml } from 'micromark-extension-gfm';
import type { BatchReport, PartitionRow } from '../src/report/batch-report.ts';
import { consoleText, renderConsoleReport } from '../src/report/console.ts';
import { escapeMarkdown, jsonPreview } from '../src/report/markdown.ts';
import { SUMMARY_BYTE_LIMIT, renderDeployFailure, renderSummary } from '../src/report/summary.ts';

function report(partitions: PartitionRow[], extra: Partial<BatchReport> = {}): BatchReport {
  const succeeded = partitions.filter((p) => p.status === 'succeeded').length;
  return {
    engine: 'local',
    runId: 'run-1',
    status: 'SUCCEEDED',
    input: 's3://in-bucket/logs/',
    output: 's3://out-bucket/results/',
    format: 'ndjson',
    startedAt: 0,
    finishedAt: 10_000,
    wallMs: 10_000,
    totals: { partitions: partitions.length, succeeded, failed: partitions.length - succeeded, records: 100, handed: 100, rejected: 0, bytes: 2048, workerMs: 40_000 },
    resultPartial: false,
    partitions,
    result: { requests: 100 },
    links: [],
    ...extra,
  };
}

const ok = (id: number, durationMs = 1000): PartitionRow => ({ id, status: 'succeeded', bytes: 1024, records: 10, rejected: 0, startedAt: id * 10, finishedAt: id * 10 + durationMs, durationMs });

describe('the job summary', () => {
  it('shows the status, totals with effective parallelism, the partition table, a mermaid timeline and the result', () => {
    const text = renderSummary(report([ok(0), ok(1, 3000)]));
    expect(text).toContain('## ✅ sfn-fanout batch succeeded');
    expect(text).toContain('| Effective parallelism | 4.0× |');
    expect(text).toContain('| 1 | ✅ succeeded | 1.0 KiB | 10 | – | 0 | 3.0 s | – |');
    // No environment recorded: the rows are packed into slots by time; both overlap, so two slots.
    expect(text).toContain(
      '```mermaid\n---\ndisplayMode: compact\n---\ngantt\n    dateFormat x\n    axisFormat %M:%S\n    section slot 1 (environment not recorded)\n    p0 :0, 1000\n    section slot 2 (environment not recorded)\n    p1 :10, 3010\n```',
    );
    expect(text).toContain('<pre>{\n  &quot;requests&quot;: 100\n}</pre>');
  });

  it('makes untrusted text inert: table pipes, HTML, backticks, newlines, links and mermaid fences', () => {
    const hostile = 'a|b <img src=x onerror=alert(1)> `code` ```mermaid\nline2 [click](https://evil.example) @team';
    const text = renderSummary(
      report([{ id: 7, status: 'failed', bytes: 1, error: 'Error|X', message: hostile }], {
        status: 'FAILED',
        result: { note: '</pre><script>alert(1)</script>```' },
        partitions: [{ id: 7, status: 'failed', bytes: 1, error: 'Error|X', message: hostile }, { ...ok(8), rejected: 1, rejectedSamples: [{ key: 'logs/<b>|x.ndjson', offset: 5, message: 'bad `json`' }] }],
      }),
    );
    expect(text).not.toMatch(/<img|<script|<b>|<\/pre><script/);
    expect(text).not.toContain('```mermaid\nline2');
    expect(text).toContain(`| 7 | Error\\|X | ${escapeMarkdown(hostile)} | – | – |`);
    expect(escapeMarkdown(hostile)).toBe(
      'a\\|b &lt;img src=x onerror=alert\\(1\\)&gt; &#96;code&#96; &#96;&#96;&#96;mermaid line2 \\[click\\]\\(https\\://evil.example\\) \\@team',
    );
    expect(text).toContain('| 8 | logs/&lt;b&gt;\\|x.ndjson | 5 | bad &#96;json&#96; |');
    // Every table row still has exactly its columns: no escaped pipe split a cell.
    const failedRows = text.split('\n').filter((l) => l.startsWith('| 7 | Error'));
    expect(failedRows).toHaveLength(1);
    for (const line of failedRows) expect(line.split(/(?<!\\)\|/).length).toBe(7);
  });

  it('stays under GitHub’s 1 MiB limit for 10,000 partitions and says how many rows of each section it left out', () => {
    const partitions = Array.from({ length: 10_000 }, (_, id) => (id % 100 === 99 ? { id, status: 'failed' as const, bytes: 5, error: 'Sandbox.Timedout', message: 'x'.repeat(3000) } : ok(id, 1000 + (id % 97))));
    const text = renderSummary(report(partitions));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SUMMARY_BYTE_LIMIT);
    expect(text).toContain('### Failed partitions (100)');
    expect(text).toContain('50 more failed partitions are in the JSON report.');
    expect(text).toContain('| 99 | Sandbox.Timedout | ' + 'x'.repeat(300) + '… \\(3,000 characters in the JSON report\\) | – | – |');
    // The folded table still lists every partition: about 65 bytes a row.
    expect(text).toContain('<details><summary>All partitions (10,000)</summary>');
    expect(text).toContain('| 9998 | ✅ succeeded |');
  });

  it('halves the folded table until the summary fits a smaller limit', () => {
    const partitions = Array.from({ length: 500 }, (_, id) => ok(id));
    const text = renderSummary(report(partitions), { maxBytes: 20_000 });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(20_000);
    expect(text).toMatch(/The first [\d,]+ of 500 partitions: all are in the JSON report/);
  });

  it('puts the execution error in the summary of a failed batch', () => {
    const text = renderSummary(report([], { status: 'FAILED', error: { name: 'StoreError', message: 'Cannot list s3://x/: bucket "x" does not exist' } }));
    expect(text).toContain('## ❌ sfn-fanout batch failed');
    expect(text).toContain('**StoreError**: Cannot list s3\\://x/\\: bucket &quot;x&quot; does not exist');
  });

  it('lists every failed resource of a failed deploy, escaped', () => {
    const text = renderDeployFailure('fanout', 'Deploying stack fanout ended in ROLLBACK_COMPLETE. Failed resources:\n  ...', [
      { logicalId: 'WorkerRole', type: 'AWS::IAM::Role', status: 'CREATE_FAILED', reason: 'not authorized: iam:CreateRole | <b>' },
      { logicalId: 'WorkerFunction', type: 'AWS::Lambda::Function', status: 'CREATE_FAILED', reason: 'Resource creation cancelled' },
    ]);
    expect(text).toBe(
      '## ❌ sfn-fanout could not deploy stack fanout\n\nDeploying stack fanout ended in ROLLBACK\\_COMPLETE. Failed resources\\:\n\n' +
        '| Resource | Type | Status | Reason |\n|---|---|---|---|\n' +
        '| WorkerRole | AWS\\:\\:IAM\\:\\:Role | CREATE\\_FAILED | not authorized\\: iam\\:CreateRole \\| &lt;b&gt; |\n' +
        '| WorkerFunction | AWS\\:\\:Lambda\\:\\:Function | CREATE\\_FAILED | Resource creation cancelled |\n',
    );
  });
});

describe('the result as the summary shows it', () => {
  it('is JSON.stringify’s text, indented or compact, whenever it fits', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2), (value, indent) => {
        expect(jsonPreview(value, 1e9, indent)).toEqual({ text: JSON.stringify(value, null, indent), cut: false });
      }),
      { numRuns: 300, seed: 14 },
    );
  });

  it('is cut at the limit without serialising the rest: the start of JSON.stringify’s text', () => {
    const big = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`key-${i}`, [i, 'x'.repeat(i % 5)]]));
    const whole = JSON.stringify(big, null, 2);
    const preview = jsonPreview(big, 20_000);
    expect(preview).toEqual({ text: whole.slice(0, 20_000), cut: true });
    expect(jsonPreview('y'.repeat(50_000), 100)).toEqual({ text: `"${'y'.repeat(99)}`, cut: true });
  });
});

describe('links and terminal codes from the data', () => {
  /** GitHub-flavoured Markdown rendered by micromark's GFM extension: an independent reading of the summary. */
  const toHtml = (markdown: string): string => micromark(markdown, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
  const linky = 'see www.evil.example, WWW.Evil.example/x, https://evil.example/a, http://e.example, mailto:a@evil.example and me@evil.example';

  it('become no link in the rendered summary, in a failed partition, a rejected record, the error and the object key', () => {
    const text = renderSummary(
      report([{ id: 1, status: 'failed', bytes: 1, error: 'www.err.example', message: linky }, { ...ok(2), rejected: 1, rejectedSamples: [{ key: 'www.key.example/a.txt', offset: 0, message: linky }] }], {
        status: 'FAILED',
        error: { name: 'Error', message: linky },
        result: { note: linky },
        links: [{ label: 'Execution', url: 'https://console.aws.amazon.com/states/home' }],
      }),
    );
    const hrefs = [...toHtml(text).matchAll(/<a href="([^"]*)"/g)].map((match) => match[1]);
    expect(hrefs).toEqual(['https://console.aws.amazon.com/states/home']);
    // The same text unescaped would have been links: the reference renderer is not blind to them.
    expect([...toHtml(`| x |\n|---|\n| ${linky} |`).matchAll(/<a href/g)]).toHaveLength(6);
  });

  it('lose their control characters on the console, and a message cannot start a line of its own', () => {
    const hostile = 'bad\x1b[2J\x1b[31m red\r\n::error::forged\u202Eevil\x07';
    const text = renderConsoleReport(report([{ id: 3, status: 'failed', bytes: 1, error: 'Error\x1b[0m', message: hostile }], { status: 'FAILED', error: { name: '::warning::x', message: hostile } }));
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    expect(text).toContain('partition 3 failed: Error[0m: bad[2J[31m red ::error::forgedevil\n');
    expect(text).toContain('error: ::warning::x: bad[2J[31m red ::error::forgedevil');
    // A line that starts with `::` is a workflow command to the runner, when the CLI runs in a workflow step.
    expect(text.split('\n').filter((line) => line.startsWith('::'))).toEqual([]);
    expect(consoleText('a\tb\nc\x1b[1m')).toBe('a\tb\nc[1m');
  });
});
