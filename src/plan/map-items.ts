import { createHash } from 'node:crypto';
import { StoreError } from '../errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { Partition, PartitionPlan } from './partition-plan.ts';

/** Where one partition's line sits in the plan manifest (key relative to the output location). */
export interface ManifestRef {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/** A Map item: the partition itself, or, for a plan too big for a state payload, a pointer to it. */
export type PartitionItem = Partition | { readonly id: number; readonly bytes: number; readonly manifest: ManifestRef };

/** Inline items stay well under the 256 KiB state payload limit, leaving room for the results. */
export const INLINE_ITEMS_BUDGET = 128 * 1024;

/**
 * The Map's items. A small plan travels inline; a larger one is written once as a JSONL manifest
 * (one partition a line, keyed by its content hash) and each item points at its own line.
 */
export async function mapItems(
  plan: PartitionPlan,
  destination: ObjectStore,
  budget = INLINE_ITEMS_BUDGET,
): Promise<{ items: PartitionItem[]; manifest?: string; manifestKey?: string }> {
  const lines = plan.partitions.map((partition) => JSON.stringify(partition));
  const inlineBytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  if (inlineBytes <= budget) return { items: [...plan.partitions] };
  const body = Buffer.from(lines.join('\n') + '\n');
  const key = `_sfn-fanout/plans/${createHash('sha256').update(body).digest('hex').slice(0, 20)}.jsonl`;
  await destination.write(key, body);
  let start = 0;
  const items = plan.partitions.map((partition, index) => {
    const end = start + Buffer.byteLength(lines[index]!);
    const item = { id: partition.id, bytes: partition.bytes, manifest: { key, start, end } };
    start = end + 1;
    return item;
  });
  return { items, manifest: destination.uriOf(key), manifestKey: key };
}

/** The partition an item stands for, reading its manifest line when it is a pointer. */
export async function resolvePartition(item: PartitionItem, destination: ObjectStore): Promise<Partition> {
  if (!('manifest' in item)) return item;
  const chunks: Uint8Array[] = [];
  for await (const chunk of destination.read(item.manifest.key, { start: item.manifest.start, end: item.manifest.end })) {
    chunks.push(chunk);
  }
  const partition = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partition;
  if (partition.id !== item.id) {
    throw new StoreError(`Plan manifest ${destination.uriOf(item.manifest.key)} does not hold partition ${item.id} at bytes ${item.manifest.start}-${item.manifest.end}: it was overwritten. Run the batch again.`);
  }
  return partition;
}
