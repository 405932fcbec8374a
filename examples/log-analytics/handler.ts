/**
 * The default example: analytics over NDJSON access logs. Each record looks like
 * {"ts":"2026-11-26T00:00:01.123Z","level":"info","method":"GET","path":"/api/items",
 *  "status":200,"bytes":5120,"latency_ms":42.7}
 * and each partition returns counts by status and level, total bytes and a latency sketch.
 */
import type { RecordContext } from '../../src/handler/api.ts';
import { addValue, emptySketch, mergeSketches, quantile, type Sketch } from './sketch.ts';

export interface LogStats {
  requests: number;
  bytes: number;
  byStatus: Record<string, number>;
  byLevel: Record<string, number>;
  latency: Sketch;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

interface AccessLogRecord {
  level?: unknown;
  status?: unknown;
  bytes?: unknown;
  latency_ms?: unknown;
}

export function init(): LogStats {
  return { requests: 0, bytes: 0, byStatus: {}, byLevel: {}, latency: emptySketch(), latencyMs: { p50: null, p95: null, p99: null } };
}

export function processRecord(stats: LogStats, record: AccessLogRecord, _context: RecordContext): void {
  const { status, level, bytes, latency_ms: latency } = record;
  if (!Number.isInteger(status)) throw new Error('status is not an integer');
  if (typeof level !== 'string') throw new Error('level is not a string');
  if (typeof bytes !== 'number' || typeof latency !== 'number') throw new Error('bytes and latency_ms must be numbers');
  stats.requests += 1;
  stats.bytes += bytes;
  stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
  stats.byLevel[level] = (stats.byLevel[level] ?? 0) + 1;
  addValue(stats.latency, latency);
}

export function finish(stats: LogStats): LogStats {
  return withPercentiles(stats);
}

/** Percentiles cannot be added up: merge the sketches, then read the percentiles again. */
export function merge(a: LogStats, b: LogStats): LogStats {
  const sum = (x: Record<string, number>, y: Record<string, number>): Record<string, number> => {
    const out = { ...x };
    for (const [key, count] of Object.entries(y)) out[key] = (out[key] ?? 0) + count;
    return out;
  };
  return withPercentiles({
    requests: a.requests + b.requests,
    bytes: a.bytes + b.bytes,
    byStatus: sum(a.byStatus, b.byStatus),
    byLevel: sum(a.byLevel, b.byLevel),
    latency: mergeSketches(a.latency, b.latency),
    latencyMs: a.latencyMs,
  });
}

function withPercentiles(stats: LogStats): LogStats {
  return {
    ...stats,
    latencyMs: { p50: quantile(stats.latency, 0.5), p95: quantile(stats.latency, 0.95), p99: quantile(stats.latency, 0.99) },
  };
}
