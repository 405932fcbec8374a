/**
 * Merge scaling, one configuration a process (so its peak RSS is its own): the reducer over P
 * partitions whose results hold K distinct keys between them, then the report edge as the CLI runs
 * it (batch file read, report built and redacted, written as JSON and as the summary).
 *   node bench/merge-scaling.ts setup  --dir D --partitions P --keys K   writes the attempts' outcome files
 *   node bench/merge-scaling.ts reduce --dir D --partitions P --keys K   reduces them, prints JSON
 * Keys: key i belongs to partition i % P, and 1,000 "hot" keys are in every partition, so the merge
 * both adds new keys and adds into existing ones. The check is a count made another way: every
 * key once, each hot key's total P, the grand total the generator's.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkHandler } from '../src/handler/load-handler.ts';
import { parseJob } from '../src/job.ts';
import { outcomeKey } from '../src/partition/commit.ts';
import { BATCH_FILE, runKey, type PartitionSummary, type SucceededPartition } from '../src/partition/outcome.ts';
import { buildReport } from '../src/report/batch-report.ts';
import { reportFileText } from '../src/report/result-output.ts';
import { renderSummary } from '../src/report/summary.ts';
import { Redactor } from '../src/secrets.ts';
import { reduceStep, type BatchFile } from '../src/steps/steps.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { readJson } from '../src/store/read-json.ts';

const HOT_KEYS = 1000;
const RUN_ID = 'bench-merge';
const { values, positionals } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' }, partitions: { type: 'string' }, keys: { type: 'string' } } });
const dir = values.dir!;
const partitions = Number(values.partitions);
const keys = Number(values.keys);
const output = path.join(dir, 'out');

function summaryOf(id: number): PartitionSummary {
  return { id, status: 'succeeded', attempt: `a${String(id).padStart(11, '0')}`, records: 1 };
}

/** Partition p's result: its slice of the keys (value 1 each) and every hot key (value 1), and its total. */
function resultOf(p: number): { words: Record<string, number>; total: number } {
  const words: Record<string, number> = {};
  for (let i = p; i < keys - HOT_KEYS; i += partitions) words[`key-${i}`] = 1;
  for (let h = 0; h < HOT_KEYS; h += 1) words[`hot-${h}`] = 1;
  return { words, total: Object.keys(words).length };
}

if (positionals[0] === 'setup') {
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'in'), { recursive: true });
  const store = new DirStore(output);
  for (let p = 0; p < partitions; p += 1) {
    const outcome: SucceededPartition = { ...summaryOf(p), bytes: 1, handed: 1, rejected: 0, startedAt: 0, finishedAt: 1, rejectedSamples: [], outputs: [], staged: [], result: resultOf(p) };
    await store.write(outcomeKey(RUN_ID, outcome), JSON.stringify(outcome));
  }
  await writeFile(path.join(dir, 'expected.json'), JSON.stringify({ total: (keys - HOT_KEYS) + HOT_KEYS * partitions }));
} else {
  // What a run's Redactor knows: a few secrets, so the redaction scans are real ones.
  const redactor = new Redactor(['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'ghs_16C7e42F292c6912E7710c838347Ae178B4a']);
  const redact = (text: string): string => redactor.redact(text);
  const job = parseJob({ input: path.join(dir, 'in'), output });
  const plan = { objects: partitions, bytes: partitions, partitions };
  const cpu = (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const started = performance.now();
  const startedCpu = cpu();
  // The reducer Lambda: reduceStep, and its handler's redactDeep of what it returns.
  const summary = redactor.redactDeep(
    await reduceStep(
      { job, runId: RUN_ID, plan, partitions: Array.from({ length: partitions }, (_, p) => summaryOf(p)), toleratedFailurePercentage: 0 },
      { s3: () => { throw new Error('no S3 here'); }, handler: async () => checkHandler({ processRecord: () => undefined }, 'bench'), redact },
    ),
  );
  const reduced = performance.now();
  const reducedCpu = cpu();
  // The report edge (the CLI): read the batch file, build the report, redact it, write it as JSON and as the summary.
  const batch = await readJson<BatchFile>(new DirStore(output), runKey(RUN_ID, BATCH_FILE));
  const { value: report, json } = redactor.redactWithJson(buildReport({ engine: 'local', runId: RUN_ID, input: job.input, output, format: 'ndjson', startedAt: 0, finishedAt: 1 }, batch));
  await writeFile(path.join(dir, 'report.json'), reportFileText(json));
  const markdown = redact(renderSummary(report));
  const finished = performance.now();
  const finishedCpu = cpu();
  const result = report.result as { words: Record<string, number>; total: number };
  const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as { total: number };
  const hot = Array.from({ length: HOT_KEYS }, (_, h) => result.words[`hot-${h}`]);
  const ok =
    summary.status === 'SUCCEEDED' &&
    Object.keys(result.words).length === keys &&
    result.total === expected.total &&
    Object.values(result.words).reduce((a, b) => a + b, 0) === expected.total &&
    hot.every((count) => count === partitions);
  console.log(
    JSON.stringify({
      ok,
      partitions,
      keys,
      reduceMs: reduced - started,
      reportMs: finished - reduced,
      totalMs: finished - started,
      reduceCpuMs: reducedCpu - startedCpu,
      reportCpuMs: finishedCpu - reducedCpu,
      batchFileMiB: (await stat(path.join(output, runKey(RUN_ID, BATCH_FILE)))).size / 2 ** 20,
      reportMiB: json.length / 2 ** 20,
      summaryKiB: markdown.length / 1024,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}
