import type { BatchReport } from './batch-report.ts';

/** Prices in USD; the defaults are us-east-1 list prices for arm64 Lambda and Standard workflows. */
export interface Prices {
  readonly lambdaGbSecond: number;
  readonly lambdaPerMillionRequests: number;
  readonly perThousandStateTransitions: number;
}

export const DEFAULT_PRICES: Prices = { lambdaGbSecond: 0.0000133334, lambdaPerMillionRequests: 0.2, perThousandStateTransitions: 0.025 };

export interface CostEstimate {
  readonly usd: number;
  readonly lambdaGbSeconds: number;
  readonly requests: number;
  readonly stateTransitions: number;
}

/**
 * An estimate from what the report knows: worker durations times worker memory, one request per
 * partition plus the partitioner and reducer, and the state transitions the template makes
 * (Partition, Map, one task per partition, one more per failed one, Reduce, the check, the end).
 */
export function estimateCost(report: BatchReport, workerMemoryMb: number, prices: Prices = DEFAULT_PRICES): CostEstimate {
  const lambdaGbSeconds = (report.totals.workerMs / 1000) * (workerMemoryMb / 1024);
  const requests = report.totals.partitions + 2;
  const stateTransitions = 5 + report.totals.partitions + report.totals.failed;
  const usd =
    lambdaGbSeconds * prices.lambdaGbSecond + (requests / 1e6) * prices.lambdaPerMillionRequests + (stateTransitions / 1000) * prices.perThousandStateTransitions;
  return { usd, lambdaGbSeconds, requests, stateTransitions };
}
