/**
 * Rejected-record memory, in a process of its own (so its peak RSS is this run's): one partition
 * of nothing but lines that do not parse, through the whole local engine with max-rejected 100%.
 *   node bench/rejected-memory.ts --dir D --bytes N     prints JSON
 * Every line must be rejected, counted and written to the committed rejected file: both are
 * checked against the generator's count, the file by counting its lines as it streams back.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseJob } from '../src/job.ts';
import { runLocal } from '../src/local/local-engine.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { dir: { type: 'string' }, bytes: { type: 'string' } } });
const dir = values.dir!;
const bytes = Number(values.bytes);

/** About `bytes` of lines like `{"id":17,"payload":"…"` (the closing brace missing): NDJSON that never parses. */
async function writeBadRecords(file: string): Promise<number> {
  const stream = createWriteStream(file);
  let written = 0;
  let lines = 0;
  while (written < bytes) {
    const line = `{"id":${lines},"payload":"${'x'.repeat(60 + (lines % 40))}"\n`;
    written += line.length;
    lines += 1;
    if (!stream.write(line)) await once(stream, 'drain');
  }
  await new Promise((resolve) => stream.end(resolve));
  return lines;
}

async function countLines(file: string): Promise<number> {
  let count = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    for (let at = (chunk as Buffer).indexOf(10); at !== -1; at = (chunk as Buffer).indexOf(10, at + 1)) count += 1;
  }
  return count;
}

await rm(dir, { recursive: true, force: true });
await mkdir(path.join(dir, 'in'), { recursive: true });
const lines = await writeBadRecords(path.join(dir, 'in', 'bad.ndjson'));
const rssBefore = process.resourceUsage().maxRSS;
const started = performance.now();
const report = await runLocal({
  job: parseJob({ input: path.join(dir, 'in'), output: path.join(dir, 'out'), partitions: 1, maxRejected: '100%' }),
  handler: path.join(root, 'examples/log-analytics/handler.ts'),
  concurrency: 1,
});
const ms = performance.now() - started;
const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
const written = report.status === 'SUCCEEDED' ? await countLines(path.join(dir, 'out', 'rejected', 'part-00000.jsonl')) : -1;
console.log(
  JSON.stringify({
    ok: report.status === 'SUCCEEDED' && report.totals.rejected === lines && report.totals.records === lines && report.totals.handed === 0 && written === lines,
    status: report.status,
    bytes,
    lines,
    rejected: report.totals.rejected,
    written,
    ms,
    peakRssMiB,
    rssBeforeMiB: Math.round(rssBefore / 1024),
  }),
);
await rm(dir, { recursive: true, force: true });
