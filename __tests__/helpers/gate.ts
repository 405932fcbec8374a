import type { Invoke } from '../../src/local/local-engine.ts';

/**
 * Holds every worker invocation at a gate until the test lets it through, so how many run at once
 * is decided by the engine alone, never by how long a handler happens to take.
 */
export function workerGate() {
  const waiting: (() => void)[] = [];
  let inFlight = 0;
  let peak = 0;
  let watchers: { count: number; resolve: () => void }[] = [];
  const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, taskTimeoutSeconds) => {
    if (fn.module !== 'worker') return invoke(fn, event, taskTimeoutSeconds);
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    try {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        for (const watcher of watchers.filter((w) => waiting.length >= w.count)) watcher.resolve();
        watchers = watchers.filter((w) => waiting.length < w.count);
      });
      return await invoke(fn, event, taskTimeoutSeconds);
    } finally {
      inFlight -= 1;
    }
  };
  return {
    wrapInvoke,
    /** The most worker invocations that were started and not yet finished, at any moment. */
    peak: () => peak,
    /** Resolves once `count` invocations wait at the gate. */
    waiting: (count: number) => (waiting.length >= count ? Promise.resolve() : new Promise<void>((resolve) => watchers.push({ count, resolve }))),
    /** Lets the longest-waiting invocation through. */
    openOne: () => waiting.shift()?.(),
    openAll: () => waiting.splice(0).forEach((open) => open()),
  };
}

/**
 * Runs a batch of `partitions` partitions through `gate`, letting one invocation through each time
 * `cap` wait at once (or all that are left): the run can only finish if the engine starts `cap` at
 * a time, and `peak()` tells whether it ever started more.
 */
export async function throughGate<T>(gate: ReturnType<typeof workerGate>, partitions: number, cap: number, run: Promise<T>): Promise<T> {
  let ended = false;
  const end = run.then(
    () => void (ended = true),
    () => void (ended = true),
  );
  // A run that ends early (it failed) ends the wait: its report says why.
  for (let left = partitions; left > 0 && !ended; left -= 1) {
    await Promise.race([gate.waiting(Math.min(cap, left)), end]);
    gate.openOne();
  }
  return run;
}
