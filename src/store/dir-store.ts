import { constants, createReadStream, statSync, type Stats } from 'node:fs';
import { copyFile, mkdir, opendir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputChangedError, MissingObjectError, StoreError } from '../errors.ts';
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
      else {
        const info = await stat(path.join(this.#root, key));
        yield { key, size: info.size, identity: identityOf(info) };
      }
    }
  }

  /**
   * With an identity, the file is checked once the read ends, also when the reader stopped early:
   * any write since the plan moved its size or modification time, so the bytes handed out were
   * the planned ones only if it still has its identity then.
   */
  async *read(key: string, range?: ByteRange, identity?: string): AsyncIterable<Uint8Array> {
    if (range !== undefined && range.end <= range.start) return;
    const file = this.#pathOf(key);
    const stream = createReadStream(file, {
      highWaterMark: READ_CHUNK,
      ...(range === undefined ? {} : { start: range.start, end: range.end - 1 }),
    });
    let failed = false;
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (error) {
      failed = true;
      throw new (code(error) === 'ENOENT' ? MissingObjectError : StoreError)(`Cannot read ${file} (${code(error)}).`, { cause: error });
    } finally {
      stream.destroy();
      if (identity !== undefined && !failed) checkIdentity(file, identity);
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

/** A file's version for the plan: its size and modification time. */
function identityOf(info: Pick<Stats, 'size' | 'mtimeMs'>): string {
  return `${info.size}:${info.mtimeMs}`;
}

/** Synchronous: one stat call, without a trip through libuv's thread pool for every read of a tiny partition. */
function checkIdentity(file: string, identity: string): void {
  let info: Stats;
  try {
    info = statSync(file);
  } catch (error) {
    throw new (code(error) === 'ENOENT' ? MissingObjectError : StoreError)(`Cannot read ${file} (${code(error)}).`, { cause: error });
  }
  const now = identityOf(info);
  if (now !== identity) {
    const [plannedSize, plannedTime] = identity.split(':');
    const [size, time] = now.split(':');
    throw new InputChangedError(
      `${file} changed after the plan was made (planned: ${plannedSize} bytes, modified ${new Date(Number(plannedTime)).toISOString()}; now: ${size} bytes, modified ${new Date(Number(time)).toISOString()}): its partitions cannot read the records they were planned with. Run the batch again once the input no longer changes.`,
    );
  }
}
