import type { ObjectStore } from './object-store.ts';

/** A whole JSON object from a store. */
export async function readJson<T>(store: ObjectStore, key: string): Promise<T> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.read(key)) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}
