/**
 * Rejected-record memory: one partition of nothing but lines that do not parse, run by the CLI as
 * users run it (dist/cli.js: build it first), with max-rejected 100%, in a process of its own so
 * its peak RSS is the run's.
 *   node bench/rejected-memory.ts setup --dir D --bytes N   writes the input, prints {"lines": …}
 *   node bench/rejected-memory.ts run --dir D               the CLI run; prints {"peakRssMiB": …, "ms": …}
 * The parent checks the report's counts and the committed rejected file against the setup's count.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' }, bytes: { type: 'string' } } });
const dir = values.dir!;

/** About `bytes` of lines like `{"id":17,"payload":"…"` (the closing brace missing): NDJSON that never parses. */
async function writeBadRecords(file: string, bytes: number): Promise<number> {
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

if (positionals[0] === 'setup') {
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'in'), { recursive: true });
  console.log(JSON.stringify({ lines: await writeBadRecords(path.join(dir, 'in', 'bad.ndjson'), Number(values.bytes)) }));
} else {
  const started = performance.now();
  // Said once the CLI has written its report and is leaving: the process's peak RSS, Lambda threads included.
  process.on('exit', () => {
    process.stdout.write(`\n${JSON.stringify({ peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ms: performance.now() - started })}\n`);
  });
  process.argv = [
    process.argv[0]!,
    path.join(root, 'dist/cli.js'),
    'run',
    '--input', path.join(dir, 'in'),
    '--output', path.join(dir, 'out'),
    '--handler', path.join(root, 'examples/log-analytics/handler.ts'),
    '--partitions', '1',
    '--max-rejected', '100%',
    '--concurrency', '1',
    '--report', path.join(dir, 'report.json'),
  ];
  await import(pathToFileURL(path.join(root, 'dist/cli.js')).href);
}
