import { MergeError } from '../errors.ts';

/** How much of a string a merge error quotes: the message stays one short line, whatever the data. */
export const QUOTED_CHARS = 100;

/**
 * The reducer's default merge: numbers add up, arrays concatenate, objects merge key by key,
 * a missing or null side takes the other. Anything else must be equal on both sides, or the
 * handler has to export its own `merge`. Neither input is changed.
 */
export function defaultMerge(a: unknown, b: unknown): unknown {
  return mergeInto(owned(a), b);
}

/**
 * The default merge of `b` into `into`, which the caller owns (made by `owned`, or returned by an
 * earlier call): `into` is changed and returned, so folding N results costs their total size, not
 * N copies of the growing total. What is taken from `b` is copied, so `b` is never changed later.
 */
export function mergeInto(into: unknown, b: unknown): unknown {
  return mergeAt(into, b, []);
}

function mergeAt(into: unknown, b: unknown, path: string[]): unknown {
  if (into === undefined || into === null) return owned(b);
  if (b === undefined || b === null) return into;
  if (typeof into === 'number' && typeof b === 'number') return into + b;
  if (Array.isArray(into) && Array.isArray(b)) {
    for (const item of b) into.push(owned(item));
    return into;
  }
  if (isObject(into) && isObject(b)) {
    for (const key of Object.keys(b)) {
      path.push(key);
      // `into` has no prototype (made by `owned`): even `__proto__` is assigned as an own key.
      into[key] = Object.hasOwn(into, key) ? mergeAt(into[key], b[key], path) : owned(b[key]);
      path.pop();
    }
    return into;
  }
  if (into === b) return into;
  throw new MergeError(
    `Cannot merge result${path.map(pathPart).join('')}: ${quote(into)} and ${quote(b)} are neither numbers, arrays nor objects, and differ. Export a merge(a, b) function from the handler module.`,
  );
}

/**
 * A copy of a JSON value the merge may change. Its objects have no prototype, so a key from the
 * data (`__proto__`, `constructor`, `toString`) is a key like any other: never an inherited value.
 */
export function owned(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(owned);
  if (!isObject(value)) return value;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) copy[key] = owned(value[key]);
  return copy;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}


function pathPart(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${quote(key)}]`;
}

/** A value as an error quotes it: short strings whole, long ones cut, objects and arrays by their size. */
function quote(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= QUOTED_CHARS ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, QUOTED_CHARS))}… (${value.length} characters)`;
  }
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (isObject(value)) return `an object with ${Object.keys(value).length} keys`;
  return String(value);
}
