import type { ByteRange, ObjectStore, ObjectWriter, StoredObject } from './object-store.ts';

/** A store opened when it is first used (S3's SDK is loaded then); every call waits for it. */
export class DeferredStore implements ObjectStore {
  readonly uri: string;
  readonly #uriOf: (key: string) => string;
  readonly #open: () => Promise<ObjectStore>;
  #opened: Promise<ObjectStore> | undefined;

  constructor(uri: string, uriOf: (key: string) => string, open: () => Promise<ObjectStore>) {
    this.uri = uri;
    this.#uriOf = uriOf;
    this.#open = open;
  }

  #store(): Promise<ObjectStore> {
    return (this.#opened ??= this.#open());
  }

  async *list(): AsyncIterable<StoredObject> {
    yield* (await this.#store()).list();
  }

  async *read(key: string, range?: ByteRange, identity?: string): AsyncIterable<Uint8Array> {
    yield* (await this.#store()).read(key, range, identity);
  }

  async write(key: string, body: string | Uint8Array): Promise<void> {
    await (await this.#store()).write(key, body);
  }

  writer(key: string): ObjectWriter {
    const writer = this.#store().then((store) => store.writer(key));
    // Not unhandled while nobody waits yet: the first call that does throws it.
    writer.catch(() => {});
    return {
      write: async (chunk) => (await writer).write(chunk),
      end: async () => (await writer).end(),
      abort: async () => (await writer).abort(),
    };
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await (await this.#store()).copy(fromKey, toKey);
  }

  uriOf(key: string): string {
    return this.#uriOf(key);
  }
}
