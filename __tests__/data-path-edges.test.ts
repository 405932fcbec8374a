/**
 * Hand-made mutants that slipped past the suite (an adversarial run): each test pins one
 * behaviour the mutation run did not reach. In-process and a few ms each.
 */
import { gzipSync } from 'node:zlib';
import { InputChangedError } from '../src/errors.ts';
import { segmentLines } from '../src/records/segment-lines.ts';
import type { ObjectStore, StoredObject } from '../src/store/object-store.ts';
import { AttemptOutput } from '../src/partition/attempt-output.ts';
import { mergeInto, owned } from '../src/handler/merge.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { DeferredStore } from '../src/store/deferred-store.ts';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir, tempDirStore } from './helpers/corpus.ts';

async function listed(objects: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const all: StoredObject[] = [];
  for await (const object of objects) all.push(object);
  return all;
}

describe('reading a gzip segment', () => {
  it('a whole gzip segment is read against its planned identity: a rewritten .gz fails as changed input', async () => {
    const store = await tempDirStore();
    await store.write('a.log.gz', gzipSync('x\ny\n'));
    const [object] = await listed(store.list());
    const segment = { key: 'a.log.gz', start: 0, end: object!.size, identity: object!.identity! };
    await store.write('a.log.gz', gzipSync('x\ny\nz\nextra\n'));
    const read = async (): Promise<number> => {
      let lines = 0;
      for await (const batch of segmentLines(store, segment)) lines += batch.length;
      return lines;
    };
    await expect(read()).rejects.toThrow(InputChangedError);
  });
});

describe('an attempt waits for every write before its outcome lists them', () => {
  it('settled() also waits for a write the handler started when an earlier one finished', async () => {
    const written: string[] = [];
    const store = {
      uri: 'mem://',
      uriOf: (key: string) => `mem://${key}`,
      write: async (key: string) => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        written.push(key.slice(key.lastIndexOf('/') + 1));
      },
    } as unknown as ObjectStore;
    const output = new AttemptOutput(store, { runId: 'r', partition: { id: 0 }, attempt: 'a' });
    let second: Promise<string> | undefined;
    // Not awaited, as a handler may do: the second write starts only once the first is in place.
    void output.writeOutput('a.txt', 'x').then(() => (second = output.writeOutput('b.txt', 'y')));
    await output.settled();
    expect(written).toEqual(['a.txt', 'b.txt']);
    expect(output.staged).toEqual(['a.txt', 'b.txt']);
    await second;
  });
});

describe('the default merge copies what it takes from a later result', () => {
  it('a key first seen in a later partition is copied: merging into it later changes neither that result nor loses a __proto__ key', async () => {
    const second = JSON.parse('{"c":{"n":1}}') as Record<string, unknown>;
    const third = JSON.parse('{"c":{"n":2,"__proto__":5}}') as Record<string, unknown>;
    const total = mergeInto(mergeInto(owned({ x: 1 }), second), third);
    expect(second).toEqual({ c: { n: 1 } });
    expect(JSON.stringify(total)).toBe('{"x":1,"c":{"n":3,"__proto__":5}}');
  });
});

describe('a directory store keeps every key inside its root', () => {
  it('refuses a key that leads to a sibling folder whose name starts with the root’s', async () => {
    const root = await tempDir();
    const store = new DirStore(root);
    expect(() => store.uriOf(`../${path.basename(root)}-evil/x.txt`)).toThrow(/points outside/);
    expect(store.uriOf('a/b.txt')).toBe(path.join(root, 'a/b.txt'));
  });
});

describe('stores', () => {
  it('a directory lists in byte order, as S3 does (upper case before lower, _ between)', async () => {
    const root = await tempDir();
    for (const name of ['b.txt', 'B.txt', '_c.txt', 'a.txt']) await writeFile(path.join(root, name), 'x\n');
    const keys = (await listed(new DirStore(root).list())).map((object) => object.key);
    expect(keys).toEqual(['B.txt', '_c.txt', 'a.txt', 'b.txt']);
  });

  it('an aborted writer leaves no partial file behind', async () => {
    const root = await tempDir();
    const writer = new DirStore(root).writer('d/rejected.jsonl');
    await writer.write('{"a":1}\n');
    await writer.abort();
    expect(await readdir(path.join(root, 'd'))).toEqual([]);
  });

  it('a deferred store’s writer awaits the write it passes on', async () => {
    const log: string[] = [];
    const inner = {
      writer: () => ({
        write: async (chunk: string) => {
          await new Promise((resolve) => setTimeout(resolve, 2));
          log.push(`wrote ${chunk}`);
        },
        end: async () => void log.push('end'),
        abort: async () => void log.push('abort'),
      }),
    } as unknown as ObjectStore;
    const writer = new DeferredStore('mem://', (key) => key, async () => inner).writer('k');
    await writer.write('a');
    log.push('after write');
    await writer.end();
    expect(log).toEqual(['wrote a', 'after write', 'end']);
  });
});
