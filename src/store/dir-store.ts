import { constants, statSync, type Stats } from 'node:fs';
import { copyFile, mkdir, open, opendir, readlink, realpath, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InputChangedError, MissingObjectError, StoreError } from '../errors.ts';
import type { ByteRange, ObjectStore, StoredObject } from './object-store.ts';

const READ_CHUNK = 1 << 20;

/** A local directory as an object store: keys are `/`-separated paths below it. */
export class DirStore implements ObjectStore {
  readonly uri: string;
  readonly #root: string;
  readonly #only: string | undefined;

  /** With `only`, the store lists that one file of the directory (an input that is a single file). */
  constructor(root: string, only?: string) {
    this.#root = root;
    this.#only = only;
    this.uri = only === undefined ? root : path.join(root, only);
  }

  async *list(): AsyncIterable<StoredObject> {
    const info = await stat(this.uri).catch((error: unknown) => {
      throw new StoreError(`${this.#only === undefined ? 'Directory' : 'File'} ${this.uri} cannot be read (${code(error)}): check the path exists.`, { cause: error });
    });
    if (this.#only !== undefined) {
      if (!info.isFile()) throw new StoreError(`${this.uri} is not a file.`);
      yield { key: this.#only, size: info.size, identity: identityOf(info) };
      return;
    }
    if (!info.isDirectory()) throw new StoreError(`${this.#root} is not a directory: give the folder that holds the data.`);
    const realRoot = await realpath(this.#root);
    yield* this.#walk('', realRoot, [realRoot]);
  }

  /**
   * Lists a directory in key order. A symbolic link is followed while it stays inside the input:
   * one that leaves it, dangles or loops is refused by name, never skipped. Refused rather than
   * skipped, since a skipped file is data silently missing from the result, and a followed one
   * could be anything on the machine (a credentials file put its keys in rejected records once).
   * A directory reached again through a link is a loop; FIFOs and devices are refused (reading
   * one would hang or never end).
   */
  async *#walk(relative: string, realDir: string, ancestors: readonly string[]): AsyncIterable<StoredObject> {
    const dir = path.join(this.#root, relative);
    const entries: { name: string; isLink: boolean }[] = [];
    try {
      for await (const entry of await opendir(dir)) entries.push({ name: entry.name, isLink: entry.isSymbolicLink() });
    } catch (error) {
      throw new StoreError(`input: directory ${dir} cannot be read (${code(error)}).`, { cause: error });
    }
    // Sorted like an S3 listing, so both stores give the same plan for the same data.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, isLink } of entries) {
      const key = relative === '' ? name : `${relative}/${name}`;
      const file = path.join(this.#root, key);
      const real = isLink ? await this.#linkTarget(file, ancestors[0]!) : path.join(realDir, name);
      const info = await stat(real).catch((error: unknown) => {
        throw new StoreError(`input: ${file} cannot be read (${code(error)}).`, { cause: error });
      });
      if (info.isDirectory()) {
        if (ancestors.includes(real)) throw new StoreError(`input: ${file} is a symbolic link back to ${real}, which holds it: a loop. Remove the link.`);
        yield* this.#walk(key, real, [...ancestors, real]);
      } else if (info.isFile()) {
        yield { key, size: info.size, identity: identityOf(info) };
      } else {
        throw new StoreError(`input: ${file} is not a regular file (a FIFO, socket or device): move it out of the input directory.`);
      }
    }
  }

  /** Where a symbolic link leads, when that is inside the input root. */
  async #linkTarget(file: string, realRoot: string): Promise<string> {
    const real = await realpath(file).catch(async (error: unknown) => {
      const reason = code(error) === 'ELOOP' ? 'a symbolic link loop' : `a symbolic link to ${path.resolve(path.dirname(file), await readlink(file))}, which does not exist`;
      throw new StoreError(`input: ${file} is ${reason}. Remove the link or fix its target.`, { cause: error });
    });
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
      throw new StoreError(
        `input: ${file} is a symbolic link to ${real}, outside the input directory ${this.#root}. sfn-fanout does not follow links out of the input: copy the file in, or give the directory that holds it as the input.`,
      );
    }
    return real;
  }

  /**
   * With an identity, the file is checked once the read ends, also when the reader stopped early:
   * any write or replacement since the plan moved its size, times or inode, so the bytes handed
   * out were the planned ones only if it still has its identity then.
   */
  async *read(key: string, range?: ByteRange, identity?: string): AsyncIterable<Uint8Array> {
    if (range !== undefined && range.end <= range.start) return;
    const file = this.#pathOf(key);
    let failed = false;
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'r');
      // Plain reads, no stream: a run reads thousands of small files, and a stream costs a chunk-sized buffer and an error object each.
      const end = range?.end ?? Number.POSITIVE_INFINITY;
      const chunk = Math.max(1, Math.min(READ_CHUNK, range === undefined ? (await handle.stat()).size : range.end - range.start));
      for (let position = range?.start ?? 0; position < end; ) {
        const buffer = Buffer.allocUnsafe(Math.min(chunk, end - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } catch (error) {
      failed = true;
      throw new (code(error) === 'ENOENT' ? MissingObjectError : StoreError)(`Cannot read ${file} (${code(error)}).`, { cause: error });
    } finally {
      await handle?.close();
      if (identity !== undefined && !failed) checkIdentity(file, identity);
    }
  }

  async write(key: string, body: string | Uint8Array): Promise<void> {
    const file = this.#pathOf(key);
    // Most writes go to a folder that is there already (a run writes thousands of files into a few): make it only when missing.
    await writeFile(file, body).catch(async (error: unknown) => {
      if (code(error) !== 'ENOENT') throw error;
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
    });
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

/**
 * A file's version for the plan: its size and modification time, and its inode and change time.
 * A file replaced by another of the same size with its times copied (`rsync -a`, `cp -p`, `tar -x`,
 * a rewrite within the file system's time resolution) keeps the first two, never the last two: a
 * user can set a file's mtime, not its ctime, and a new file is a new inode.
 */
function identityOf(info: Pick<Stats, 'size' | 'mtimeMs' | 'ino' | 'ctimeMs'>): string {
  return `${info.size}:${info.mtimeMs}:${info.ino}:${info.ctimeMs}`;
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
    const [plannedSize, plannedTime, plannedInode] = identity.split(':');
    const [size, time, inode] = now.split(':');
    const how = size !== plannedSize || time !== plannedTime ? '' : inode === plannedInode ? 'written to or its metadata changed, keeping its size and modification time: a new change time; ' : 'replaced by another file of the same size and modification time: a new inode; ';
    throw new InputChangedError(
      `${file} changed after the plan was made (${how}planned: ${plannedSize} bytes, modified ${new Date(Number(plannedTime)).toISOString()}; now: ${size} bytes, modified ${new Date(Number(time)).toISOString()}): its partitions cannot read the records they were planned with. Run the batch again once the input no longer changes.`,
    );
  }
}
