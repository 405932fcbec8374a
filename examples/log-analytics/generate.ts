/**
 * Deterministic access-log generator: the same arguments always write the same bytes.
 *   node examples/log-analytics/generate.ts --out DIR [--bytes 500MB] [--files 20] [--gzip 2] [--seed 1]
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { writeFile } from 'node:fs/promises';
import { parseByteSize } from '../../src/job.ts';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = ['/api/items', '/api/items/42', '/api/users', '/login', '/static/app.js', '/health', '/api/orders', '/search?q=ü€'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];

/** One access-log line (with its newline), drawn from `random`. */
export function logLine(random: () => number, time: number): string {
  const r = random();
  const status = r < 0.9 ? 200 : r < 0.95 ? 404 : r < 0.98 ? 500 : 302;
  const level = status >= 500 ? 'error' : status === 404 ? 'warn' : 'info';
  const latency = Math.round(-Math.log(1 - random()) * 40 * 10) / 10 + 0.5;
  return `${JSON.stringify({
    ts: new Date(time).toISOString(),
    level,
    method: METHODS[Math.floor(random() * METHODS.length)],
    path: PATHS[Math.floor(random() * PATHS.length)],
    status,
    bytes: Math.floor(random() * 20000),
    latency_ms: latency,
  })}\n`;
}

export interface GenerateOptions {
  readonly out: string;
  readonly bytes: number;
  readonly files: number;
  readonly gzip: number;
  readonly seed: number;
}

/** Writes `files` NDJSON files of about `bytes / files` each; the last `gzip` of them gzipped. */
export async function generateLogs(options: GenerateOptions): Promise<{ files: string[]; records: number }> {
  await mkdir(options.out, { recursive: true });
  const random = mulberry32(options.seed);
  const perFile = Math.ceil(options.bytes / options.files);
  const files: string[] = [];
  let records = 0;
  let time = Date.UTC(2026, 10, 26);
  for (let index = 0; index < options.files; index += 1) {
    const gzip = index >= options.files - options.gzip;
    const name = `access-${String(index).padStart(4, '0')}.ndjson${gzip ? '.gz' : ''}`;
    const file = path.join(options.out, name);
    const lines: string[] = [];
    const stream = gzip ? undefined : createWriteStream(file);
    let written = 0;
    while (written < perFile) {
      const line = logLine(random, (time += Math.floor(random() * 50)));
      written += Buffer.byteLength(line);
      records += 1;
      if (stream === undefined) lines.push(line);
      else if (!stream.write(line)) await once(stream, 'drain');
    }
    if (stream === undefined) await writeFile(file, gzipSync(lines.join('')));
    else await new Promise((resolve) => stream.end(resolve));
    files.push(file);
  }
  return { files, records };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      bytes: { type: 'string', default: '500MB' },
      files: { type: 'string', default: '20' },
      gzip: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
    },
  });
  if (values.out === undefined) throw new Error('--out DIR is required');
  const result = await generateLogs({
    out: values.out,
    bytes: parseByteSize(values.bytes, '--bytes'),
    files: Number(values.files),
    gzip: Number(values.gzip),
    seed: Number(values.seed),
  });
  console.log(`wrote ${result.records} records in ${result.files.length} files to ${values.out}`);
}
