import { constants, createReadStream } from 'node:fs';
import { copyFile, mkdir, opendir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingObjectError, StoreError } from '../errors.ts';
import type { ByteRange, ObjectStore, StoredObject } from './object-store.ts';

const READ_CHUNK = 1 << 20;

/** A local directory as an object store: keys are `/`-separated paths below it. */
export class DirStore implements ObjectStore {
  readonly uri: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
    this.uri = root;
  }

  async *list(): AsyncIterable<StoredObject> {
    const info = await stat(this.#root).catch((error: unknown) => {
      throw new StoreError(`Directory ${this.#root} cannot be read (${code(error)}): check the path exists.`, { cause: error });
    });
    if (!info.isDirectory()) throw new StoreError(`${this.#root} is not a directory: give the folder that holds the data.`);
    yield* this.#walk('');
  }

  async *#walk(relative: string): AsyncIterable<StoredObject> {
    const dir = await opendir(path.join(this.#root, relative));
    const entries: { name: string; isDir: boolean }[] = [];
    for await (const entry of dir) entries.push({ name: entry.name, isDir: entry.isDirectory() });
    // Sorted like an S3 listing, so both stores give the same plan for the same data.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDir) yield* this.#walk(key);
      else yield { key, size: (await stat(path.join(this.#root, key))).size };
    }
  }

  async *read(key: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    if (range !== undefined && range.end <= range.start) return;
    const file = this.#pathOf(key);
    const stream = createReadStream(file, {
      highWaterMark: READ_CHUNK,
      ...(range === undefined ? {} : { start: range.start, end: range.end - 1 }),
    });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (error) {
      throw new (code(error) === 'ENOENT' ? MissingObjectError : StoreError)(`Cannot read ${file} (${code(error)}).`, { cause: error });
    } finally {
      stream.destroy();
    }
  }

  async write(key: string, body: string | Uint8Array): Promise<void> {
    const file = this.#pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, body);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const [from, to] = [this.#pathOf(fromKey), this.#pathOf(toKey)];
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(from, to, constants.COPYFILE_FICLONE).catch((error: unknown) => {
      throw new (code(error) === 'ENOENT' ? MissingObjectError : StoreError)(`Cannot copy ${from} to ${to} (${code(error)}).`, { cause: error });
    });
  }

  uriOf(key: string): string {
    return this.#pathOf(key);
  }

  #pathOf(key: string): string {
    const file = path.resolve(this.#root, key);
    if (!file.startsWith(path.resolve(this.#root) + path.sep)) {
      throw new StoreError(`Key "${key}" points outside ${this.#root}.`);
    }
    return file;
  }
}

function code(error: unknown): string {
  return (error as { code?: string }).code ?? String(error);
}
