import { MissingObjectError } from '../errors.ts';
import type { ObjectStore } from './object-store.ts';

/** A whole object's bytes from a store. */
export async function readBytes(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.read(key)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A whole JSON object from a store. */
export async function readJson<T>(store: ObjectStore, key: string): Promise<T> {
  return JSON.parse((await readBytes(store, key)).toString('utf8')) as T;
}

/** A whole JSON object from a store, or undefined when the key is not there. */
export async function readJsonIfPresent<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  try {
    return await readJson<T>(store, key);
  } catch (error) {
    if (error instanceof MissingObjectError) return undefined;
    throw error;
  }
}
