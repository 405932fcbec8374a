import { InputError } from '../errors.ts';
import type { StoredObject } from '../store/object-store.ts';

/** Bytes [start, end) of one object; `key` is relative to the source location. */
export interface Segment {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** The object's identity when it was planned: a read fails if the object is no longer that version. */
  readonly identity?: string;
}

export interface Partition {
  readonly id: number;
  /** Set on the halves of a partition split after a timeout: "1" and "2". */
  readonly split?: string;
  readonly bytes: number;
  /** Set when the partition holds gzip objects: its bytes once decompressed (estimated), what it was balanced by. */
  readonly uncompressedBytes?: number;
  readonly segments: readonly Segment[];
}

export interface PartitionPlan {
  readonly objects: number;
  readonly bytes: number;
  /** Set when the input holds gzip objects: all its bytes once decompressed (estimated). */
  readonly uncompressedBytes?: number;
  readonly partitions: readonly Partition[];
  /** Set when `partitionBytes` asked for more partitions than `maxPartitions` allows. */
  readonly cappedAt?: number;
}

/** A listed object, with what a gzip object decompresses to when known (see gzip-size.ts). */
export type PlannedObject = StoredObject & { readonly uncompressedSize?: number };

export type PlanSizing = { readonly partitionBytes: number } | { readonly partitions: number };

export interface PlanOptions {
  readonly sizing: PlanSizing;
  readonly maxPartitions: number;
}

const UNREADABLE = /\.(bz2|xz|zst|zstd|lz4|snappy|zip|7z|parquet|orc|avro)$/i;
/** A run's bookkeeping under an output location: never data. */
const BOOKKEEPING = /(^|\/)_sfn-fanout\//;

/** Gzip streams cannot be entered in the middle, so a `.gz` object is always one whole segment. */
export function isSplittable(key: string): boolean {
  return !/\.(gz|gzip)$/i.test(key);
}

/**
 * Plans partitions of equal work. Whole (gzip) objects are placed first, heaviest first (by their
 * uncompressed size when known), on the least-loaded partition; splittable bytes then fill every
 * partition up to one common level, cut at any byte (the worker's record rule makes any cut safe).
 * Objects keep their key order.
 */
export function planPartitions(listing: Iterable<PlannedObject>, options: PlanOptions): PartitionPlan {
  let objects = 0;
  let bytes = 0;
  let weight = 0;
  const whole: PlannedObject[] = [];
  const splittable: PlannedObject[] = [];
  for (const object of listing) {
    objects += 1;
    if (BOOKKEEPING.test(object.key)) {
      throw new InputError(
        `The input holds "${object.key}", a file sfn-fanout writes under an output: the input is, or holds, an earlier run's output. Read its results from its partitions/ prefix instead, or move the _sfn-fanout/ folder out of the input.`,
      );
    }
    if (UNREADABLE.test(object.key)) {
      throw new InputError(
        `Cannot read "${object.key}": only plain text and gzip (.gz) are supported. Decompress it, or move it out of the input location.`,
      );
    }
    if (object.size === 0) continue;
    bytes += object.size;
    weight += weightOf(object);
    (isSplittable(object.key) ? splittable : whole).push(object);
  }
  if (bytes === 0) return { objects, bytes, partitions: [] };

  const { count, cappedAt } = partitionCount(bytes, weight, options);
  const bins = Array.from({ length: count }, (): Bin => ({ load: 0, bytes: 0, segments: [] }));
  placeWholeObjects(whole, bins);
  const quotas = fillQuotas(
    bins.map((bin) => bin.load),
    splittable.reduce((sum, object) => sum + object.size, 0),
  );
  pourSplittable(splittable, bins, quotas);

  const compressed = whole.length > 0;
  const partitions = bins
    .filter((bin) => bin.bytes > 0)
    .map((bin, id) => ({ id, bytes: bin.bytes, ...(compressed && bin.load !== bin.bytes ? { uncompressedBytes: bin.load } : {}), segments: bin.segments }));
  return { objects, bytes, ...(weight !== bytes ? { uncompressedBytes: weight } : {}), partitions, ...(cappedAt === undefined ? {} : { cappedAt }) };
}

/** What an object costs a worker: its bytes once decompressed. */
function weightOf(object: PlannedObject): number {
  return Math.max(object.size, object.uncompressedSize ?? 0);
}

/**
 * Why a plan has fewer partitions than `--partitions` asked for, or undefined: gzip objects cannot
 * be split, so each is read whole by one worker, and a partition needs at least one byte.
 */
export function partitionShortfall(plan: PartitionPlan, sizing: PlanSizing): string | undefined {
  if (!('partitions' in sizing) || plan.partitions.length >= sizing.partitions || plan.bytes === 0) return undefined;
  const whole = plan.partitions.flatMap((partition) => partition.segments).filter((segment) => !isSplittable(segment.key));
  const asked = `${plan.partitions.length} partition${plan.partitions.length === 1 ? '' : 's'}, not the ${sizing.partitions} asked for`;
  if (whole.length === plan.partitions.flatMap((partition) => partition.segments).length) {
    return `${asked}: ${whole.length === 1 ? `${whole[0]!.key} is gzip, which cannot be split` : `the input is ${whole.length} gzip objects, which cannot be split`}: each gzip object is read whole by one worker. Split the data into more files (or store it uncompressed) for more parallelism.`;
  }
  return `${asked}: ${plan.bytes < sizing.partitions ? `the input has only ${plan.bytes} bytes` : 'gzip objects cannot be split, and they fill the others'}.`;
}

function partitionCount(bytes: number, weight: number, options: PlanOptions): { count: number; cappedAt?: number } {
  if ('partitions' in options.sizing) {
    return { count: Math.min(options.sizing.partitions, bytes) };
  }
  const wanted = Math.ceil(weight / options.sizing.partitionBytes);
  return wanted > options.maxPartitions
    ? { count: options.maxPartitions, cappedAt: options.maxPartitions }
    : { count: wanted };
}

interface Bin {
  /** Work: bytes once decompressed. */
  load: number;
  /** Bytes read. */
  bytes: number;
  segments: Segment[];
}

/** Longest-processing-time-first: each whole object goes to the least-loaded partition. */
function placeWholeObjects(whole: PlannedObject[], bins: Bin[]): void {
  if (whole.length === 0) return;
  const sorted = [...whole].sort((a, b) => weightOf(b) - weightOf(a) || compareKeys(a.key, b.key));
  const heap = new MinHeap<number>((a, b) => bins[a]!.load - bins[b]!.load || a - b);
  bins.forEach((_, index) => heap.push(index));
  for (const object of sorted) {
    const index = heap.pop()!;
    const bin = bins[index]!;
    bin.load += weightOf(object);
    bin.bytes += object.size;
    bin.segments.push({ key: object.key, start: 0, end: object.size, ...identityOf(object) });
    heap.push(index);
  }
  // Whole objects were placed by size; keep each partition's segments in key order for reading.
  for (const bin of bins) bin.segments.sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * Water-filling: the integer number of splittable bytes each partition takes so that all
 * partitions below the common level are raised to it. The quotas sum to `splittableBytes`.
 */
export function fillQuotas(loads: readonly number[], splittableBytes: number): number[] {
  // Array.prototype.sort is stable: partitions of equal load stay in index order.
  const order = loads.map((load, index) => ({ load, index })).sort((a, b) => a.load - b.load);
  let level = 0;
  let filled = 0;
  let below = 0;
  for (const [position, entry] of order.entries()) {
    filled += entry.load;
    below = position + 1;
    level = (splittableBytes + filled) / below;
    const next = order[position + 1];
    if (next === undefined || level <= next.load) break;
  }
  const quotas = loads.map(() => 0);
  let assigned = 0;
  for (const entry of order.slice(0, below)) {
    const quota = Math.max(0, Math.floor(level - entry.load));
    quotas[entry.index] = quota;
    assigned += quota;
  }
  // Hand out the bytes lost to rounding, one each, to the partitions that were filled.
  for (let i = 0; assigned < splittableBytes; i = (i + 1) % below) {
    quotas[order[i]!.index]! += 1;
    assigned += 1;
  }
  return quotas;
}

function pourSplittable(splittable: PlannedObject[], bins: Bin[], quotas: number[]): void {
  let binIndex = 0;
  for (const object of splittable) {
    let start = 0;
    while (start < object.size) {
      while (quotas[binIndex] === 0) binIndex += 1;
      const bin = bins[binIndex]!;
      const take = Math.min(quotas[binIndex]!, object.size - start);
      bin.segments.push({ key: object.key, start, end: start + take, ...identityOf(object) });
      bin.load += take;
      bin.bytes += take;
      quotas[binIndex]! -= take;
      start += take;
    }
  }
}

function identityOf(object: StoredObject): Pick<Segment, 'identity'> {
  return object.identity === undefined ? {} : { identity: object.identity };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#less = compare;
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#less(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.#less(items[left]!, items[smallest]!) < 0) smallest = left;
        if (right < items.length && this.#less(items[right]!, items[smallest]!) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
