import { formatCount } from '../report/markdown.ts';

export type MapModeRequest = 'auto' | 'inline' | 'distributed';

export interface MapModeChoice {
  readonly mapMode: 'INLINE' | 'DISTRIBUTED';
  readonly childExecutionType: 'STANDARD' | 'EXPRESS';
  /** Said in the log: why this mode. */
  readonly reason: string;
}

/**
 * What an Inline Map holds with room to spare: 40 at once, and about 7 history events and a
 * ~150-byte summary a partition against the 25,000-event history and the 256 KiB payload.
 */
export const INLINE_LIMITS = { partitions: 1000, concurrency: 40 } as const;
/** The low end of one Lambda's S3 reads: the speed EXPRESS children are sized by. */
export const CONSERVATIVE_BYTES_PER_SECOND = 30e6;
/** EXPRESS children live 5 minutes; a partition gets 60 s, leaving the rest to Lambda retries. */
export const EXPRESS_BUDGET_SECONDS = 60;

export interface PlanFacts {
  readonly partitions: number;
  /** 0 means as many as the Map allows. */
  readonly maxConcurrency: number;
  readonly largestPartitionBytes: number;
  /** The local engine's Lambda environments: what runs at once there, whatever the Map allows. */
  readonly localEnvironments?: number;
}

export function chooseMapMode(requested: MapModeRequest, facts: PlanFacts): MapModeChoice {
  const overInline = [
    ...(facts.partitions > INLINE_LIMITS.partitions ? [`${formatCount(facts.partitions)} partitions are more than an Inline Map holds with room (${formatCount(INLINE_LIMITS.partitions)})`] : []),
    ...(facts.maxConcurrency > INLINE_LIMITS.concurrency ? [`max concurrency ${facts.maxConcurrency} is over Inline's ${INLINE_LIMITS.concurrency}`] : []),
  ];
  const mapMode = requested === 'auto' ? (overInline.length > 0 ? 'DISTRIBUTED' : 'INLINE') : requested === 'inline' ? 'INLINE' : 'DISTRIBUTED';
  const seconds = facts.largestPartitionBytes / CONSERVATIVE_BYTES_PER_SECOND;
  const childExecutionType = seconds <= EXPRESS_BUDGET_SECONDS ? 'EXPRESS' : 'STANDARD';
  const why =
    requested !== 'auto'
      ? `map-mode ${requested} was asked for${requested === 'inline' && overInline.length > 0 ? `, although ${overInline.join(' and ')}` : ''}`
      : overInline.length > 0
        ? overInline.join(' and ')
        : `${formatCount(facts.partitions)} partition${facts.partitions === 1 ? '' : 's'} at concurrency ${facts.maxConcurrency === 0 ? 'up to 40' : facts.maxConcurrency} fit${facts.partitions === 1 ? 's' : ''} an Inline Map`;
  const local = facts.localEnvironments === undefined ? '' : `; this local run has ${facts.localEnvironments} Lambda environment${facts.localEnvironments === 1 ? '' : 's'}, so at most ${Math.min(facts.localEnvironments, facts.partitions)} run at once`;
  const child =
    mapMode === 'INLINE'
      ? ''
      : `; children ${childExecutionType}: the largest partition should take about ${Math.ceil(seconds)} s at ${CONSERVATIVE_BYTES_PER_SECOND / 1e6} MB/s, ${childExecutionType === 'EXPRESS' ? 'well within' : 'too close to'} the 5-minute EXPRESS limit`;
  return { mapMode, childExecutionType, reason: `Map mode ${mapMode}: ${why}${child}${local}.` };
}
