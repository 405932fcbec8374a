import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHandler } from '../src/handler/load-handler.ts';
import { QUOTED_CHARS, defaultMerge, mergeInto, owned } from '../src/handler/merge.ts';
import { parseJob } from '../src/job.ts';
import { runLocal } from '../src/local/local-engine.ts';
import { resultFold } from '../src/partition/reduce.ts';
import { runPartition } from '../src/partition/run-partition.ts';
import type { Partition } from '../src/plan/partition-plan.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { tempDir, testAttempt } from './helpers/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** One partition over a whole file. */
async function onePartition(body: string, key = 'in.txt'): Promise<{ source: DirStore; partition: Partition; output: DirStore }> {
  const dir = await tempDir();
  await writeFile(path.join(dir, key), body);
  return { source: new DirStore(dir), partition: { id: 0, bytes: Buffer.byteLength(body), segments: [{ key, start: 0, end: Buffer.byteLength(body) }] }, output: new DirStore(await tempDir()) };
}

async function run(body: string, exports: Record<string, unknown>, options: { format?: 'lines' | 'ndjson' | 'csv'; key?: string; maxRejected?: number } = {}) {
  const { source, partition, output } = await onePartition(body, options.key);
  return runPartition({
    partition,
    format: options.format ?? 'lines',
    maxRejected: { count: options.maxRejected ?? 100 },
    source,
    output: testAttempt(output, partition),
    handler: checkHandler(exports, 'test'),
  });
}

/** Word counts by an independent route: a Map over the lines. */
function wordCounts(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

describe('a handler’s functions may be async', () => {
  it('awaits init, processRecord and finish, and rejects the records whose promise rejects', async () => {
    const lines = ['a', 'b', 'bad1', 'a', 'bad2', 'c'];
    const outcome = await run(`${lines.join('\n')}\n`, {
      init: async () => ({ count: 0 }),
      processRecord: async (state: { count: number }, record: string) => {
        await new Promise((resolve) => setImmediate(resolve));
        if (record.startsWith('bad')) throw new Error(`no ${record}`);
        return { count: state.count + 1 };
      },
      finish: async (state: { count: number }) => ({ total: state.count }),
    });
    expect(outcome).toMatchObject({ result: { total: 4 }, records: 6, handed: 6, rejected: 2 });
    expect(outcome.rejectedSamples.map((sample) => sample.message)).toEqual(['no bad1', 'no bad2']);
  });

  it('takes an async processRecord that resolves to nothing as a mutating fold', async () => {
    const outcome = await run('x\ny\n', { init: () => ({ seen: [] as string[] }), processRecord: async (state: { seen: string[] }, record: string) => void state.seen.push(record) });
    expect(outcome.result).toEqual({ seen: ['x', 'y'] });
  });

  it('awaits a handler’s own async merge, pairwise in partition order, with each result merged once', async () => {
    const calls: string[] = [];
    const fold = resultFold(async (a, b) => {
      calls.push(`${String(a)}+${String(b)}`);
      await new Promise((resolve) => setImmediate(resolve));
      return `${String(a)}${String(b)}`;
    });
    for (const letter of 'abcdefg') await fold.add(letter);
    expect(await fold.result()).toBe('abcdefg');
    // A balanced tree: 6 merges for 7 results, never the growing total with one more.
    expect(calls).toEqual(['a+b', 'c+d', 'ab+cd', 'e+f', 'ef+g', 'abcd+efg']);
  });
});

describe('the default merge, value by value', () => {
  it('adds numbers, takes the other side of a null or missing one, keeps equal values once', () => {
    expect([defaultMerge(5, 3), defaultMerge(null, 5), defaultMerge(undefined, 5), defaultMerge(5, null), defaultMerge(5, undefined), defaultMerge('a', 'a')]).toEqual([8, 5, 5, 5, 5, 'a']);
  });

  it('copies what it takes: merging changes neither input, arrays of objects included', () => {
    const a = { list: [{ n: 1 }] };
    const b = { list: [{ n: 2 }] };
    expect(defaultMerge(a, b)).toEqual({ list: [{ n: 1 }, { n: 2 }] });
    expect([a, b]).toEqual([{ list: [{ n: 1 }] }, { list: [{ n: 2 }] }]);
  });

  it('refuses values of different kinds, naming the path of the field and quoting each value by its size', () => {
    expect(() => defaultMerge(1, 'x')).toThrow('Cannot merge result: 1 and "x" are neither numbers, arrays nor objects, and differ.');
    expect(() => defaultMerge('x', 1)).toThrow('Cannot merge result: "x" and 1 are neither numbers, arrays nor objects, and differ.');
    expect(() => defaultMerge({ a: { b: 1 }, c: [1] }, { a: { b: 2 }, c: { d: 1 } })).toThrow('Cannot merge result.c: an array of 1 items and an object with 1 keys are neither');
    const exact = 'x'.repeat(QUOTED_CHARS);
    expect(() => defaultMerge(exact, `${exact.slice(1)}y`)).toThrow(`Cannot merge result: ${JSON.stringify(exact)} and ${JSON.stringify(`${exact.slice(1)}y`)} are neither`);
  });
});

describe('a handler’s merge that returns no JSON data', () => {
  it.each([
    ['undefined', () => undefined],
    ['a function', () => () => 1],
    ['a symbol', () => Symbol('x')],
    ['NaN', () => Number.NaN],
    ['Infinity', async () => Number.POSITIVE_INFINITY],
  ])('fails the merge when it returns %s, instead of a null result', async (kind, merge) => {
    const fold = resultFold(merge as (a: unknown, b: unknown) => unknown);
    await fold.add({ n: 1 });
    await expect(fold.add({ n: 2 })).rejects.toThrow(`The handler's merge(a, b) returned ${kind}: it must return the merged result as JSON data`);
  });
});

describe('objects built from data are prototype-safe', () => {
  const keys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  it('the default merge keeps every key the data has, one first seen in a later partition too, and keeps its inputs as they were', () => {
    const first = { words: { a: 1, toString: 2 } };
    const later = JSON.parse('{"words": {"__proto__": 3, "constructor": 4, "toString": 5, "a": 1}}') as unknown;
    const merged = defaultMerge(first, later) as { words: Record<string, number> };
    expect(JSON.stringify(merged)).toBe('{"words":{"a":2,"toString":7,"__proto__":3,"constructor":4}}');
    expect(Object.getPrototypeOf(merged.words)).toBeNull();
    expect(first).toEqual({ words: { a: 1, toString: 2 } });
    expect(JSON.stringify(later)).toBe('{"words":{"__proto__":3,"constructor":4,"toString":5,"a":1}}');
  });

  it('the default state has no prototype: a fold keyed by the data counts every key', async () => {
    const lines = [...keys, ...keys, 'plain'];
    const outcome = await run(`${lines.join('\n')}\n`, { processRecord: (state: Record<string, number>, record: string) => void (state[record] = (state[record] ?? 0) + 1) });
    expect(new Map(Object.entries(JSON.parse(JSON.stringify(outcome.result)) as Record<string, number>))).toEqual(wordCounts(lines));
  });

  it('a CSV column named __proto__ is a field like the others', async () => {
    const outcome = await run('id,__proto__,constructor\n1,x,y\n2,z,w\n', { init: () => ({ rows: [] as unknown[] }), processRecord: (state: { rows: unknown[] }, record: unknown) => void state.rows.push(record) }, { format: 'csv', key: 'a.csv' });
    expect(JSON.stringify(outcome.result)).toBe('{"rows":[{"id":"1","__proto__":"x","constructor":"y"},{"id":"2","__proto__":"z","constructor":"w"}]}');
    const [row] = (outcome.result as { rows: object[] }).rows;
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it('a CSV header that names a column twice is refused, naming the file, the column and both positions', async () => {
    await expect(run('id,name,id\n1,a,2\n', { processRecord: () => undefined }, { format: 'csv', key: 'dup.csv' })).rejects.toThrow(
      /dup\.csv: its CSV header names the column "id" twice \(columns 1 and 3\), so one would overwrite the other in every record\. Give each column its own name/,
    );
  });

  it('through the local engine: async functions, words as keys, a __proto__ first seen in a later partition, records counted three ways', async () => {
    const files = [['a', 'toString', 'bad1', 'a'], ['__proto__', 'constructor', 'a', 'bad2'], ['__proto__', 'hasOwnProperty', 'valueOf', 'b']];
    const input = await tempDir();
    const width = Math.max(...files.map((lines) => lines.join('\n').length)) + 1;
    // Equal sizes: the planner gives each file its own partition; the padding line is a word too.
    const written = files.map((lines) => [...lines, '#'.repeat(width - lines.join('\n').length)]);
    for (const [index, lines] of written.entries()) await writeFile(path.join(input, `f${index}.txt`), `${lines.join('\n')}\n`);
    const output = await tempDir();
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 3, maxRejected: '5' }), handler: path.join(here, 'fixtures/async-handler.ts'), concurrency: 2 });
    const all = written.flat();
    const good = all.filter((line) => !line.startsWith('bad'));
    expect(report).toMatchObject({ status: 'SUCCEEDED', totals: { partitions: 3, records: all.length, handed: all.length, rejected: all.length - good.length } });
    const batch = await readFile(path.join(output, `_sfn-fanout/runs/${report.runId}/batch.json`), 'utf8');
    const result = JSON.parse(batch).result as { count: number; words: Record<string, number> };
    expect(result.count).toBe(good.length);
    expect(new Map(Object.entries(result.words))).toEqual(wordCounts(good));
    expect(batch).toContain('"__proto__":2');
  });
});

describe('the default merge at scale', () => {
  it('folds into one accumulator whose total matches a Map count, copying what it takes', async () => {
    const partitions = Array.from({ length: 40 }, (_, p) => Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${(p * 37 + i * 11) % 1000}`, 1])));
    const expected = new Map<string, number>();
    for (const result of partitions) for (const key of Object.keys(result)) expected.set(key, (expected.get(key) ?? 0) + 1);
    const fold = resultFold(undefined);
    for (const result of partitions) await fold.add(result);
    const total = (await fold.result()) as Record<string, number>;
    expect(new Map(Object.entries(total))).toEqual(expected);
    // The inputs are untouched: the accumulator copied what it took.
    expect(Object.values(partitions[0]!).every((value) => value === 1)).toBe(true);
  });

  it('changes the accumulator it is given, never the value merged into it', () => {
    const into = owned({ list: [1], n: 1 });
    const b = { list: [{ deep: 1 }], n: 2 };
    const merged = mergeInto(into, b) as { list: unknown[]; n: number };
    expect(merged).toBe(into);
    (merged.list[1] as { deep: number }).deep = 99;
    expect(b).toEqual({ list: [{ deep: 1 }], n: 2 });
    expect(merged.n).toBe(3);
  });

  it('quotes at most a short part of each value it cannot merge, so the error stays one short line', () => {
    const huge = 'x'.repeat(1_000_000);
    const error = (() => {
      try {
        defaultMerge({ region: { 'a b': huge } }, { region: { 'a b': `y${huge}` } });
      } catch (thrown) {
        return thrown as Error;
      }
      throw new Error('no error');
    })();
    expect(error.name).toBe('MergeError');
    expect(error.message.length).toBeLessThan(2 * QUOTED_CHARS + 300);
    expect(error.message).toMatch(/^Cannot merge result\.region\["a b"\]: "x{100}"… \(1000000 characters\) and "yx{99}"… \(1000001 characters\) are neither/);
    expect(() => defaultMerge({ a: { b: 1 } }, { a: 'text' })).toThrow('Cannot merge result.a: an object with 1 keys and "text"');
  });
});
