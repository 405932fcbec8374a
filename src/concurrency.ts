import { CancelledError } from './errors.ts';

/** Runs `task` over `items` with at most `limit` in flight; results keep the items' order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Runs `task` over `items` with at most `limit` in flight, and hands each result to `consume` in
 * the items' order as soon as it and all before it are done: results that are consumed (merged,
 * then dropped) need not all be held at once.
 */
export async function mapInOrder<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>, consume: (result: R, index: number) => Promise<void> | void): Promise<void> {
  const window: Promise<R>[] = [];
  let next = 0;
  const start = (): void => {
    const running = task(items[next++]!);
    // Awaited in order below; until then a failure must not count as unhandled.
    running.catch(() => {});
    window.push(running);
  };
  for (let index = 0; index < items.length; index += 1) {
    while (next < items.length && window.length < Math.max(1, limit)) start();
    await consume(await window.shift()!, index);
  }
}

/** Settles with `promise`, or rejects as soon as `signal` aborts; the promise left behind may settle unobserved. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : CancelledError.of(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
