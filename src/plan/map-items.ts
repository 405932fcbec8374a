import { createHash } from 'node:crypto';
import { StoreError } from '../errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readBytes } from '../store/read-json.ts';
import type { Partition, PartitionPlan } from './partition-plan.ts';
import { splitPartition } from './split-partition.ts';

/** Where one partition's line sits in the plan manifest (key relative to the output location). */
export interface ManifestRef {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/**
 * A partition by reference: its id and where its line of the plan manifest is, and with `split`
 * one half of it. About 130 bytes, however many objects the partition holds.
 */
export interface PartitionRef {
  readonly id: number;
  readonly split?: string;
  readonly bytes: number;
  readonly manifest: ManifestRef;
}

/** A Map item: the partition itself (a small Inline plan), or a reference to it. */
export type PartitionItem = Partition | PartitionRef;

/** Inline items stay well under the 256 KiB state payload limit, leaving room for the results. */
export const INLINE_ITEMS_BUDGET = 128 * 1024;

/** The plan as written: the manifest's key, and a reference to each partition in it. */
export interface WrittenPlan {
  readonly key: string;
  readonly refs: readonly PartitionRef[];
}

/**
 * Writes the plan once as a JSONL manifest (one partition a line, keyed by its content hash). Every
 * run writes it: Map items refer to it, and a resumed run reads the partitions it runs again from it.
 */
export async function writePlan(plan: PartitionPlan, destination: ObjectStore): Promise<WrittenPlan> {
  const body = Buffer.from(plan.partitions.map((partition) => `${JSON.stringify(partition)}\n`).join(''));
  const key = `_sfn-fanout/plans/${createHash('sha256').update(body).digest('hex').slice(0, 20)}.jsonl`;
  await destination.write(key, body);
  return { key, refs: refsOf(key, body) };
}

/** A reference to each line of a plan manifest. */
function refsOf(key: string, body: Buffer): PartitionRef[] {
  const refs: PartitionRef[] = [];
  for (let start = 0; start < body.length; ) {
    const end = body.indexOf(0x0a, start);
    const line = end === -1 ? body.length : end;
    const { id, bytes } = JSON.parse(body.toString('utf8', start, line)) as Partition;
    refs.push({ id, bytes, manifest: { key, start, end: line } });
    start = line + 1;
  }
  return refs;
}

/** The references to every partition of a plan manifest another run wrote. */
export async function readPlanRefs(destination: ObjectStore, key: string): Promise<PartitionRef[]> {
  return refsOf(key, await readBytes(destination, key));
}

/** The Inline Map's items: the partitions themselves while the plan fits the budget, else references. */
export function inlineItems(plan: PartitionPlan, written: WrittenPlan, budget = INLINE_ITEMS_BUDGET): PartitionItem[] {
  const inlineBytes = plan.partitions.reduce((sum, partition) => sum + Buffer.byteLength(JSON.stringify(partition)) + 1, 0);
  return inlineBytes <= budget ? [...plan.partitions] : [...written.refs];
}

/** The Distributed Map's items, one reference a line, for its ItemReader: the item size does not grow with the input. */
export async function writeItems(refs: readonly PartitionItem[], destination: ObjectStore): Promise<string> {
  const body = Buffer.from(refs.map((ref) => `${JSON.stringify(ref)}\n`).join(''));
  const key = `_sfn-fanout/plans/${createHash('sha256').update(body).digest('hex').slice(0, 20)}.items.jsonl`;
  await destination.write(key, body);
  return key;
}

/** The partition an item stands for, reading its manifest line when it is a reference (and halving it for a half). */
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
  return item.split === undefined ? partition : halfOf(partition, item.split);
}

/**
 * The two halves of a partition that timed out, as items: references to the same manifest line
 * when the partition was one (splitting is a pure function of the partition), else the halves.
 */
export async function halvesOf(item: PartitionItem, destination: ObjectStore): Promise<[PartitionItem, PartitionItem]> {
  const halves = splitPartition(await resolvePartition(item, destination));
  if (!('manifest' in item)) return halves;
  return [0, 1].map((index) => ({ id: item.id, split: halves[index]!.split!, bytes: halves[index]!.bytes, manifest: item.manifest })) as [PartitionRef, PartitionRef];
}

function halfOf(partition: Partition, split: string): Partition {
  const half = splitPartition(partition).find((candidate) => candidate.split === split);
  if (half === undefined) throw new StoreError(`Partition ${partition.id} has no half "${split}": halves are "1" and "2".`);
  return half;
}
