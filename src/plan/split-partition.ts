import { FanoutError } from '../errors.ts';
import { isSplittable, type Partition, type Segment } from './partition-plan.ts';

/**
 * Cuts a partition at its byte midpoint into two halves ("1" and "2"). Any cut inside a splittable
 * object is safe, since a record belongs to the half that holds its first byte; a whole (gzip)
 * object is never cut, so the cut moves to the nearest object boundary.
 */
export function splitPartition(partition: Partition): [Partition, Partition] {
  if (partition.split !== undefined) {
    throw new FanoutError(`Partition ${partition.id} half ${partition.split} timed out again: halves are not split further. Lower partition-size, or give the workers more memory (CPU) or a longer timeout.`);
  }
  const target = Math.floor(partition.bytes / 2);
  const first: Segment[] = [];
  const second: Segment[] = [];
  let position = 0;
  for (const segment of partition.segments) {
    const size = segment.end - segment.start;
    const cutAt = target - position;
    if (cutAt <= 0) second.push(segment);
    else if (cutAt >= size) first.push(segment);
    else if (isSplittable(segment.key)) {
      first.push({ ...segment, end: segment.start + cutAt });
      second.push({ ...segment, start: segment.start + cutAt });
    } else (cutAt >= size / 2 ? first : second).push(segment);
    position += size;
  }
  if (first.length === 0 || second.length === 0) {
    throw new FanoutError(`Partition ${partition.id} is one gzip object (${partition.segments[0]?.key}) and cannot be split: a gzip stream must be read whole. Give the workers more memory (CPU) or a longer timeout, or store the data uncompressed or in smaller objects.`);
  }
  const bytes = (segments: Segment[]): number => segments.reduce((sum, segment) => sum + segment.end - segment.start, 0);
  return [
    { id: partition.id, split: '1', bytes: bytes(first), segments: first },
    { id: partition.id, split: '2', bytes: bytes(second), segments: second },
  ];
}
