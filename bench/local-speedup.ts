/**
 * Local fan-out speedup: the same generated data set through the whole local engine at 1 worker
 * and at one worker per core, measured side by side in one run.
 *   node bench/local-speedup.ts [--bytes 500MB] [--rounds 2] [--json bench/local-speedup.json]
 */
import { rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { generateLogs } from '../examples/log-analytics/generate.ts';
import { parseByteSize, parseJob } from '../src/job.ts';
import { runLocal } from '../src/local/local-engine.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { bytes: { type: 'string', default: '500MB' }, rounds: { type: 'string', default: '2' }, json: { type: 'string' } } });
const cores = availableParallelism();
const data = path.join(root, 'bench/data/speedup');
const bytes = parseByteSize(values.bytes, '--bytes');
await rm(data, { recursive: true, force: true });
const generated = await generateLogs({ out: data, bytes, files: 8, gzip: 0, seed: 42 });

const rows: { workers: number; round: number; wallMs: number; records: number; mbPerSecond: number }[] = [];
for (let round = 1; round <= Number(values.rounds); round += 1) {
  // Alternate the order each round so drift on a shared machine hits both sides alike.
  for (const workers of round % 2 === 1 ? [1, cores] : [cores, 1]) {
    const job = parseJob({ input: data, output: path.join(root, 'bench/data/speedup-out'), partitions: cores * 4 });
    const report = await runLocal({ job, handler: path.join(root, 'examples/log-analytics/handler.ts'), concurrency: workers });
    if (report.status !== 'SUCCEEDED' || report.totals.records !== generated.records) {
      throw new Error(`Run with ${workers} workers: ${report.status}, ${report.totals.records} of ${generated.records} records`);
    }
    rows.push({ workers, round, wallMs: report.wallMs, records: report.totals.records, mbPerSecond: bytes / 1e6 / (report.wallMs / 1000) });
  }
}
const best = (workers: number): number => Math.min(...rows.filter((row) => row.workers === workers).map((row) => row.wallMs));
const speedup = best(1) / best(cores);
const result = {
  cores,
  node: process.version,
  bytes,
  records: generated.records,
  rows,
  bestWallMs: { one: best(1), all: best(cores) },
  speedup,
  efficiency: speedup / cores,
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
};
console.log(`cores ${cores}, ${(bytes / 1e6).toFixed(0)} MB, ${generated.records} records`);
for (const row of rows) console.log(`round ${row.round}  ${String(row.workers).padStart(2)} worker(s)  ${(row.wallMs / 1000).toFixed(2)} s  ${row.mbPerSecond.toFixed(1)} MB/s`);
console.log(`speedup ${speedup.toFixed(2)}x on ${cores} cores (efficiency ${(result.efficiency * 100).toFixed(0)}%), peak RSS ${result.peakRssMiB} MiB`);
if (values.json !== undefined) await writeFile(values.json, JSON.stringify(result, null, 2));
