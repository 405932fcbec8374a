import { GetAccountSettingsCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { errorMessage } from '../errors.ts';
import { INLINE_LIMITS } from '../plan/map-mode.ts';
import { formatCount } from '../report/markdown.ts';

/** A Distributed Map starts up to 10,000 children at once. */
const DISTRIBUTED_LIMIT = 10_000;

/** What an account's Lambda functions may run at once (GetAccountSettings): in all, and without a reservation. */
export interface AccountConcurrency {
  readonly total: number;
  readonly unreserved: number;
}

/** The account's Lambda concurrency, or why it could not be read (the run goes on without it). */
export async function readAccountConcurrency(lambda: LambdaClient, signal?: AbortSignal): Promise<AccountConcurrency | { readonly unreadable: string }> {
  try {
    const { AccountLimit } = await lambda.send(new GetAccountSettingsCommand({}), signal === undefined ? {} : { abortSignal: signal });
    const total = AccountLimit?.ConcurrentExecutions;
    if (total === undefined) return { unreadable: 'GetAccountSettings gave no ConcurrentExecutions' };
    return { total, unreserved: AccountLimit?.UnreservedConcurrentExecutions ?? total };
  } catch (error) {
    if (signal?.aborted === true) throw error;
    return { unreadable: `${errorMessage(error)} (${(error as { name?: string }).name ?? 'Error'})` };
  }
}

/**
 * MaxConcurrency under the account's unreserved Lambda concurrency, which the stack's functions
 * draw from: a Map asked for more would be throttled, wave after wave. A tenth of it (at least 2)
 * stays free for the partitioner and reducer, a split partition's second half, and the account's
 * other functions. `maxConcurrency` 0 is as many as the Map allows.
 */
export function concurrencyUnderAccount(maxConcurrency: number, mapMode: 'INLINE' | 'DISTRIBUTED', account: AccountConcurrency): { maxConcurrency: number; reason: string } {
  const cap = Math.max(1, account.unreserved - Math.max(2, Math.ceil(account.unreserved / 10)));
  const mapLimit = mapMode === 'INLINE' ? INLINE_LIMITS.concurrency : DISTRIBUTED_LIMIT;
  const asked = maxConcurrency === 0 ? mapLimit : Math.min(maxConcurrency, mapLimit);
  const account_ = `the account's Lambda concurrency is ${formatCount(account.total)}, ${formatCount(account.unreserved)} of it unreserved`;
  if (asked <= cap) return { maxConcurrency, reason: `Lambda concurrency: ${account_}; the Map runs at most ${formatCount(asked)} partitions at once, under it.` };
  const was = maxConcurrency === 0 ? `as many as the ${mapMode === 'INLINE' ? 'Inline' : 'Distributed'} Map allows (${formatCount(mapLimit)})` : formatCount(maxConcurrency);
  return {
    maxConcurrency: cap,
    reason: `Lambda concurrency: ${account_}, so MaxConcurrency is ${formatCount(cap)} instead of ${was}, leaving ${formatCount(account.unreserved - cap)} for the partitioner, the reducer and other functions (ask AWS for more concurrency to run more at once).`,
  };
}
