/** Deterministic data for the benchmarks: listings for the planner, files for the readers. */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { logLine, mulberry32 } from '../examples/log-analytics/generate.ts';
import type { StoredObject } from '../src/store/object-store.ts';

const MiB = 1024 * 1024;

export function uniformListing(): StoredObject[] {
  return Array.from({ length: 200 }, (_, i) => ({ key: `uniform/${String(i).padStart(4, '0')}.ndjson`, size: 50 * MiB + ((i * 7919) % 4096) }));
}

export function skewedListing(): StoredObject[] {
  const random = mulberry32(7);
  return [{ key: 'skewed/huge.ndjson', size: 600 * MiB }, ...Array.from({ length: 5000 }, (_, i) => ({ key: `skewed/small/${String(i).padStart(5, '0')}.ndjson`, size: 1000 + Math.floor(random() * 9000) }))];
}

export function tinyListing(count = 30_000): StoredObject[] {
  const random = mulberry32(11);
  return Array.from({ length: count }, (_, i) => ({ key: `tiny/${String(i).padStart(6, '0')}.ndjson`, size: 200 + Math.floor(random() * 4000) }));
}

export type BenchFormat = 'ndjson' | 'lines' | 'csv';

/** One file of about `bytes` in the given format; returns its record count. */
export async function writeFormatFile(file: string, format: BenchFormat, bytes: number): Promise<number> {
  await mkdir(path.dirname(file), { recursive: true });
  const random = mulberry32(3);
  const stream = createWriteStream(file);
  let written = 0;
  let records = 0;
  let time = Date.UTC(2026, 10, 26);
  if (format === 'csv') stream.write('ts,level,method,path,status,bytes,latency_ms\n');
  while (written < bytes) {
    const json = logLine(random, (time += 7));
    const record = JSON.parse(json) as Record<string, string | number>;
    const line = format === 'ndjson' ? json : format === 'lines' ? `${record.ts} ${record.level} ${record.method} ${record.path} ${record.status} ${record.bytes}\n` : `${Object.values(record).join(',')}\n`;
    written += Buffer.byteLength(line);
    records += 1;
    if (!stream.write(line)) await once(stream, 'drain');
  }
  await new Promise((resolve) => stream.end(resolve));
  return records;
}
