/** Capped exponential backoff with full jitter: a random wait in [0, min(cap, base * 2^attempt)). */
export function fullJitterDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

/** AWS's names for "slow down" across services. */
export function isThrottling(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return ['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'SlowDown'].includes(name);
}

/** Errors worth another try: throttling, a 5xx, or the network. */
export function isTransient(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  const code = (error as { code?: string }).code ?? '';
  return isThrottling(error) || status >= 500 || ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED'].includes(code);
}
