import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { cli } from './helpers/cli.ts';
import { tempDir } from './helpers/corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sample = path.join(root, 'examples/log-analytics/sample');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');

describe('gzip objects are weighed by what they decompress to', () => {
  it('gives each partition of the sample the same number of records, gzip or not', async () => {
    // The sample's one .gz holds as many records as each plain file in a tenth of the bytes: weighed
    // by compressed size, its partition got about twice the records of the others.
    const output = await tempDir();
    const { code } = await cli(['run', '--input', sample, '--output', output, '--handler', exampleHandler, '--partitions', '4', '--concurrency', '1', '--report', path.join(output, 'r.json')]);
    expect(code).toBe(0);
    const report = JSON.parse(await readFile(path.join(output, 'r.json'), 'utf8')) as { partitions: { records: number }[] };
    const records = report.partitions.map((partition) => partition.records);
    expect(records.reduce((a, b) => a + b, 0)).toBe(15_438);
    expect(Math.max(...records) / Math.min(...records)).toBeLessThan(1.05);
  });

  it('says in plan and in the run why --partitions 7 over one gzip object gives 1', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'day.ndjson.gz'), gzipSync(Buffer.from('{"status":200,"level":"info","bytes":1,"latency_ms":2}\n'.repeat(500))));
    const why = '1 partition, not the 7 asked for: day.ndjson.gz is gzip, which cannot be split: each gzip object is read whole by one worker.';
    const plan = await cli(['plan', '--input', input, '--partitions', '7']);
    expect(plan.out).toContain(why);
    expect(plan.out).toMatch(/^0 .* day\.ndjson\.gz \[0, \d+\) {2}\(gzip: one object, read whole; ~26\.9 KiB uncompressed\)$/m);
    const run = await cli(['run', '--input', input, '--output', await tempDir(), '--handler', exampleHandler, '--partitions', '7', '--concurrency', '1']);
    expect(run.code).toBe(0);
    expect(run.err).toContain(why);
    expect(run.out).toContain('SUCCEEDED: 1 partition (1 succeeded, 0 failed), 500 records');
  });
});
