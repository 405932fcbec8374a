/**
 * A mergeable quantile sketch (DDSketch-style log buckets, 1% relative error): two partitions'
 * sketches merge by adding bucket counts, so percentiles over the whole batch stay exact to 1%.
 */
const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);

/** Bucket index (as a string, to stay JSON) to count; values <= 0 count in `zero`. */
export interface Sketch {
  zero: number;
  buckets: Record<string, number>;
}

export function emptySketch(): Sketch {
  return { zero: 0, buckets: {} };
}

export function addValue(sketch: Sketch, value: number): void {
  if (value <= 0) {
    sketch.zero += 1;
    return;
  }
  const index = String(Math.ceil(Math.log(value) / LOG_GAMMA));
  sketch.buckets[index] = (sketch.buckets[index] ?? 0) + 1;
}

export function mergeSketches(a: Sketch, b: Sketch): Sketch {
  const buckets = { ...a.buckets };
  for (const [index, count] of Object.entries(b.buckets)) buckets[index] = (buckets[index] ?? 0) + count;
  return { zero: a.zero + b.zero, buckets };
}

/** The value at quantile q (0..1), or null for an empty sketch. */
export function quantile(sketch: Sketch, q: number): number | null {
  const entries = Object.entries(sketch.buckets)
    .map(([index, count]) => [Number(index), count] as const)
    .sort((x, y) => x[0] - y[0]);
  const total = sketch.zero + entries.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * (total - 1);
  if (rank < sketch.zero) return 0;
  let seen = sketch.zero;
  for (const [index, count] of entries) {
    seen += count;
    // The bucket (gamma^(i-1), gamma^i] is represented by the value with equal relative error to both ends.
    if (seen > rank) return Math.round(((2 * GAMMA ** index) / (GAMMA + 1)) * 100) / 100;
  }
  return null;
}
