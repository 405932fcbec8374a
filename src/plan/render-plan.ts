import { formatBytes } from '../report/markdown.ts';
import { isSplittable, partitionShortfall, type PartitionPlan, type PlanSizing } from './partition-plan.ts';

const SHOWN = 100;

/** The plan as `sfn-fanout plan` prints it: one row a partition, its gzip objects marked as read whole, and why it has fewer partitions than asked. */
export function renderPlan(plan: PartitionPlan, sizing: PlanSizing): string {
  const lines = [`partition  bytes       segments  first`];
  for (const partition of plan.partitions.slice(0, SHOWN)) {
    const first = partition.segments[0]!;
    const gzip = partition.segments.filter((segment) => !isSplittable(segment.key)).length;
    const whole = gzip === 0 ? '' : `  (${gzip === 1 ? 'gzip: one object, read whole' : `${gzip} gzip objects, each read whole`}; ~${formatBytes(partition.uncompressedBytes ?? partition.bytes)} uncompressed)`;
    lines.push(`${String(partition.id).padEnd(9)}  ${formatBytes(partition.bytes).padStart(10)}  ${String(partition.segments.length).padStart(8)}  ${first.key} [${first.start}, ${first.end})${whole}`);
  }
  if (plan.partitions.length > SHOWN) lines.push(`... ${plan.partitions.length - SHOWN} more`);
  const loads = plan.partitions.map((partition) => partition.uncompressedBytes ?? partition.bytes);
  const total = plan.uncompressedBytes ?? plan.bytes;
  const balance = loads.length === 0 ? 1 : Math.max(...loads) / (total / loads.length);
  const uncompressed = plan.uncompressedBytes === undefined ? '' : ` (~${formatBytes(plan.uncompressedBytes)} uncompressed)`;
  lines.push(
    '',
    `${plan.objects} objects, ${formatBytes(plan.bytes)}${uncompressed} in ${plan.partitions.length} partitions; max/mean ${balance.toFixed(3)}${plan.uncompressedBytes === undefined ? '' : ' by uncompressed size'}${plan.cappedAt === undefined ? '' : ` (capped at max-partitions ${plan.cappedAt})`}`,
  );
  const shortfall = partitionShortfall(plan, sizing);
  if (shortfall !== undefined) lines.push(shortfall);
  return lines.join('\n');
}
