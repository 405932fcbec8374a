/**
 * The hand-written loop GNU parallel runs in the benchmark: NDJSON access logs on stdin, a
 * Buffer.indexOf line loop, JSON.parse, and the same aggregate as the example handler (requests,
 * bytes, counts by status and level, the latency sketch), printed as one JSON line.
 *   parallel --pipepart -a logs.ndjson --block -1 -j 2 node bench/pipepart-loop.ts
 */
import { addValue, emptySketch } from '../examples/log-analytics/sketch.ts';

const stats = { requests: 0, bytes: 0, byStatus: {} as Record<string, number>, byLevel: {} as Record<string, number>, latency: emptySketch() };
const add = (line: Buffer): void => {
  if (line.length === 0) return;
  const record = JSON.parse(line.toString('utf8')) as { status: number; level: string; bytes: number; latency_ms: number };
  stats.requests += 1;
  stats.bytes += record.bytes;
  stats.byStatus[String(record.status)] = (stats.byStatus[String(record.status)] ?? 0) + 1;
  stats.byLevel[record.level] = (stats.byLevel[record.level] ?? 0) + 1;
  addValue(stats.latency, record.latency_ms);
};
let carry: Buffer | undefined;
for await (const raw of process.stdin) {
  const chunk = carry === undefined ? (raw as Buffer) : Buffer.concat([carry, raw as Buffer]);
  let from = 0;
  for (let at = chunk.indexOf(10, from); at !== -1; at = chunk.indexOf(10, from)) {
    add(chunk.subarray(from, at));
    from = at + 1;
  }
  carry = from < chunk.length ? chunk.subarray(from) : undefined;
}
if (carry !== undefined) add(carry);
process.stdout.write(`${JSON.stringify(stats)}\n`);
