import { FanoutError } from '../errors.ts';

/**
 * The reducer's default merge: numbers add up, arrays concatenate, objects merge key by key,
 * a missing or null side takes the other. Anything else must be equal on both sides, or the
 * handler has to export its own `merge`.
 */
export function defaultMerge(a: unknown, b: unknown, path = 'result'): unknown {
  if (a === undefined || a === null) return b;
  if (b === undefined || b === null) return a;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (isPlainObject(a) && isPlainObject(b)) {
    const merged: Record<string, unknown> = { ...a };
    for (const [key, value] of Object.entries(b)) merged[key] = defaultMerge(merged[key], value, `${path}.${key}`);
    return merged;
  }
  if (a === b) return a;
  throw new FanoutError(
    `Cannot merge ${path}: ${JSON.stringify(a)} and ${JSON.stringify(b)} are neither numbers, arrays nor objects, and differ. Export a merge(a, b) function from the handler module.`,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
