// Unit tests of src/partition/, in this process and in memory: what its mutation score rests on
// (bench/MUTATION.md). Each case pins one behaviour a user sees in the files, the report or an error.
import { gzipSync } from 'node:zlib';
import { InputError, MissingObjectError, RejectedRecordsError, UnreadRecordsError } from '../src/errors.ts';
import type { FanoutRecord } from '../src/handler/api.ts';
import { checkHandler } from '../src/handler/load-handler.ts';
import type { Job } from '../src/job.ts';
import { AttemptOutput, attemptKey, newAttemptId, stagedOutputKey } from '../src/partition/attempt-output.ts';
import { commitAttempt, manifestKey, outcomeKey, runManifest, type RunManifest } from '../src/partition/commit.ts';
import { knownFailureCause } from '../src/partition/known-failures.ts';
import { outputName, partitionLabel, partitionOutputKey, partitionResults, rejectedKey, runKey, type SucceededPartition } from '../src/partition/outcome.ts';
import { batchStatus, countOutcomes, failuresOf, partitionOrder, reduceOutcomes, resultFold } from '../src/partition/reduce.ts';
import { RejectedRecords } from '../src/partition/rejected-records.ts';
import { runPartition, type PartitionRun } from '../src/partition/run-partition.ts';
import { checkCommittedAttempts, checkInputUnchanged, resumeItems, resumePoint, type ResumePoint } from '../src/partition/resume.ts';
import type { ByteRange, ObjectStore, ObjectWriter, StoredObject } from '../src/store/object-store.ts';

/** An object store in memory: keys in a Map, listed in key order, each write and copy logged. */
class MemoryStore implements ObjectStore {
  readonly uri = 'mem://bucket/out';
  readonly objects = new Map<string, { body: Buffer; identity: string | undefined }>();
  readonly log: string[] = [];
  /** How many bytes each chunk of a read holds: a small one makes a partition many batches. */
  chunk = Infinity;

  async *list(): AsyncIterable<StoredObject> {
    for (const key of [...this.objects.keys()].sort()) {
      const { body, identity } = this.objects.get(key)!;
      yield { key, size: body.length, ...(identity === undefined ? {} : { identity }) };
    }
  }

  async *read(key: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    const object = this.objects.get(key);
    if (object === undefined) throw new MissingObjectError(`no ${key}`);
    const body = object.body.subarray(range?.start ?? 0, range?.end ?? object.body.length);
    this.log.push(`read ${key}`);
    try {
      for (let at = 0; at < body.length; at += this.chunk) yield body.subarray(at, at + this.chunk);
    } finally {
      this.log.push(`read ${key} closed`);
    }
  }

  async write(key: string, body: string | Uint8Array, ...version: [identity?: string]): Promise<void> {
    const identity = version.length === 0 ? 'v1' : version[0];
    this.log.push(`write ${key}`);
    this.objects.set(key, { body: Buffer.from(body), identity });
  }

  writer(key: string): ObjectWriter {
    const chunks: Buffer[] = [];
    this.log.push(`open ${key}`);
    return {
      write: async (chunk) => void chunks.push(Buffer.from(chunk)),
      end: async () => this.write(key, Buffer.concat(chunks)),
      abort: async () => void this.log.push(`abort ${key}`),
    };
  }

  async copy(from: string, to: string): Promise<void> {
    const object = this.objects.get(from);
    if (object === undefined) throw new MissingObjectError(`no ${from}`);
    this.log.push(`copy ${from} -> ${to}`);
    this.objects.set(to, object);
  }

  uriOf(key: string): string {
    return `${this.uri}/${key}`;
  }

  text(key: string): string | undefined {
    return this.objects.get(key)?.body.toString('utf8');
  }
}

const succeeded = (fields: Partial<SucceededPartition> & { id: number }): SucceededPartition => ({
  status: 'succeeded', attempt: 'a1', bytes: 10, records: 2, handed: 2, rejected: 0, rejectedSamples: [], outputs: [], staged: [], startedAt: 0, finishedAt: 1, result: null, ...fields,
});

describe('names of partitions, outputs and run files', () => {
  it('labels a partition by its id in five digits, and a half by its split', () => {
    expect(partitionLabel({ id: 3 })).toBe('00003');
    expect(partitionLabel({ id: 3, split: '1' })).toBe('00003-1');
    expect(partitionLabel({ id: 123456 })).toBe('123456');
  });

  it('keys outputs, rejected records and run files under fixed prefixes', () => {
    expect(partitionOutputKey({ id: 7, split: '2' }, 'dir/counts.json')).toBe('partitions/part-00007-2/dir/counts.json');
    expect(rejectedKey({ id: 7 })).toBe('rejected/part-00007.jsonl');
    expect(runKey('r1', 'batch.json')).toBe('_sfn-fanout/runs/r1/batch.json');
    expect(manifestKey('r1')).toBe('_sfn-fanout/runs/r1/manifest.json');
    const ref = { runId: 'r1', partition: { id: 7, split: '1' }, attempt: 'abc' };
    expect(attemptKey(ref, '.json')).toBe('_sfn-fanout/runs/r1/attempts/part-00007-1.abc.json');
    expect(attemptKey(ref, '.rejected.jsonl')).toBe('_sfn-fanout/runs/r1/attempts/part-00007-1.abc.rejected.jsonl');
    expect(stagedOutputKey(ref, 'a/b.txt')).toBe('_sfn-fanout/runs/r1/attempts/part-00007-1.abc/a/b.txt');
    expect(outcomeKey('r1', { id: 7, attempt: 'abc' })).toBe('_sfn-fanout/runs/r1/attempts/part-00007.abc.json');
  });

  it('accepts relative output names with folders, and refuses each kind of name that is not one', () => {
    expect(outputName('counts.json')).toBe('counts.json');
    expect(outputName('by-day/2024/x.json')).toBe('by-day/2024/x.json');
    expect(outputName('..x/.y')).toBe('..x/.y');
    expect(outputName('Stryker was here!')).toBe('Stryker was here!');
    expect(() => outputName('a\\b.txt')).toThrow('Output name "a\\b.txt" has a backslash: use / to make folders, and take backslashes out of names built from data (like DOMAIN\\user), so two names never become one file.');
    for (const name of ['', '/abs.txt', '../up.txt', 'a/../b', './a', 'a/.', 'a//b', 'dir/']) {
      expect(() => outputName(name)).toThrow(`Output name "${name}" must be a relative path without "." or ".." parts, like "counts.json".`);
    }
  });

  it('makes attempt ids of 12 hex digits, a new one each time', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newAttemptId()));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('Map results as partitions', () => {
  it('flattens halves, expands a failed batch to each of its partitions, and keeps single results', () => {
    const halves = [
      { id: 1, split: '1', status: 'succeeded' as const, attempt: 'a', records: 3 },
      { id: 1, split: '2', status: 'failed' as const, bytes: 4, error: 'Boom' },
    ];
    const batch = { status: 'failed' as const, batch: [{ id: 2, bytes: 5 }, { id: 3, bytes: 6 }], error: 'States.Timeout', cause: 'late' };
    const single = { id: 0, status: 'succeeded' as const, attempt: 'b', records: 1 };
    expect(partitionResults([single, halves, batch])).toStrictEqual([
      single,
      ...halves,
      { id: 2, status: 'failed', bytes: 5, error: 'States.Timeout', cause: 'late' },
      { id: 3, status: 'failed', bytes: 6, error: 'States.Timeout', cause: 'late' },
    ]);
  });
});

describe('the cause written for a failure known only by its name', () => {
  const message = (error: string, seconds?: number): unknown => JSON.parse(knownFailureCause(error, seconds));
  const history = "the full cause is in the execution's history (for EXPRESS children, in the state machine's log group)";

  it('says what each known error means and what to do about it', () => {
    expect(message('Sandbox.Timedout', 60)).toStrictEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 60.00 seconds: the worker ran past its Timeout (WorkerTimeout) and Lambda stopped it. Lower partition-size, or give the workers more memory (CPU) or a longer timeout.',
      trace: [],
    });
    expect(message('Sandbox.Timedout')).toMatchObject({ errorMessage: 'the worker ran past its Timeout (WorkerTimeout) and Lambda stopped it. Lower partition-size, or give the workers more memory (CPU) or a longer timeout.' });
    expect(message('States.Timeout')).toMatchObject({ errorType: 'States.Timeout', errorMessage: "The Task's TimeoutSeconds passed before the worker returned." });
    expect(message('Lambda.TooManyRequestsException')).toMatchObject({
      errorMessage: "Lambda throttled the worker for longer than the template's retries wait: the account's Lambda concurrency is below what the Map runs at once. Lower max-concurrency, or ask AWS for more concurrency.",
    });
    expect(message('States.DataLimitExceeded')).toMatchObject({ errorMessage: `A state's input or output passed Step Functions' 256 KiB limit; ${history}.` });
    expect(message('Runtime.ExitError')).toMatchObject({
      errorMessage: "The worker's runtime failed before it returned (Runtime.ExitError: a crash, or out of memory); its error is in the worker's log (in AWS its log group; locally the run's console, labelled with the partition).",
    });
    expect(message('Lambda.ServiceException')).toMatchObject({ errorMessage: `Lambda could not run the worker (Lambda.ServiceException), still after the template's retries; ${history}.` });
    expect(message('MyError')).toStrictEqual({ errorType: 'MyError', errorMessage: `The worker failed with MyError; ${history}.`, trace: [] });
  });

  it('matches names whole or by their prefix only', () => {
    expect(message('xRuntime.Crash')).toMatchObject({ errorMessage: `The worker failed with xRuntime.Crash; ${history}.` });
    expect(message('XLambda.Oops')).toMatchObject({ errorMessage: `The worker failed with XLambda.Oops; ${history}.` });
  });
});

describe('an attempt’s output', () => {
  const ref = { runId: 'r1', partition: { id: 4 }, attempt: 'att' };

  it('stages each name under the attempt once, in the order first written, and returns the URI it will have once committed', async () => {
    const store = new MemoryStore();
    const output = new AttemptOutput(store, ref);
    expect(await output.writeOutput('b.txt', 'one')).toBe('mem://bucket/out/partitions/part-00004/b.txt');
    await output.writeOutput('a/x.txt', 'two');
    await output.writeOutput('b.txt', 'three');
    await output.settled();
    expect(output.staged).toStrictEqual(['b.txt', 'a/x.txt']);
    expect(output.committedUris).toStrictEqual(['mem://bucket/out/partitions/part-00004/b.txt', 'mem://bucket/out/partitions/part-00004/a/x.txt']);
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att/b.txt')).toBe('three');
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att/a/x.txt')).toBe('two');
    expect(output.rejectedUri).toBe('mem://bucket/out/_sfn-fanout/runs/r1/attempts/part-00004.att.rejected.jsonl');
    (output.staged as string[]).length = 0;
    expect(output.staged).toStrictEqual(['b.txt', 'a/x.txt']);
  });

  it('refuses a bad name with a rejected promise and stages nothing for it', async () => {
    const output = new AttemptOutput(new MemoryStore(), ref);
    await expect(output.writeOutput('../x', 'body')).rejects.toThrow('Output name "../x" must be a relative path');
    await output.settled();
    expect(output.staged).toStrictEqual([]);
  });

  it('refuses a write once settled, naming the output and the partition', async () => {
    const store = new MemoryStore();
    const output = new AttemptOutput(store, ref);
    await output.settled();
    await expect(output.writeOutput('late.txt', 'x')).rejects.toThrow(
      'Output "late.txt" was written after partition 00004 had returned its result: it would never be committed. Write every output before processPartition or finish returns (await each writeOutput, or return its promise).',
    );
    expect(store.log).toStrictEqual([]);
    expect(output.staged).toStrictEqual([]);
  });

  it('settles writes the handler never awaited, and those they start meanwhile', async () => {
    const store = new MemoryStore();
    const output = new AttemptOutput(store, ref);
    void output.writeOutput('first.txt', '1').then(() => void output.writeOutput('second.txt', '2'));
    await output.settled();
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att/first.txt')).toBe('1');
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att/second.txt')).toBe('2');
  });

  it('fails settled with the first failed write, and writes a name again after its last write failed', async () => {
    const store = new MemoryStore();
    const failing = Object.assign(Object.create(store) as MemoryStore, {
      write: async (key: string, body: string | Uint8Array) => {
        if (body === 'bad') throw new Error(`disk full at ${key}`);
        await store.write(key, body);
      },
    });
    const output = new AttemptOutput(failing, ref);
    const first = output.writeOutput('x.txt', 'bad');
    const second = output.writeOutput('x.txt', 'good');
    await expect(first).rejects.toThrow('disk full at _sfn-fanout/runs/r1/attempts/part-00004.att/x.txt');
    await expect(second).resolves.toBe('mem://bucket/out/partitions/part-00004/x.txt');
    await expect(output.settled()).rejects.toThrow('disk full at _sfn-fanout/runs/r1/attempts/part-00004.att/x.txt');
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att/x.txt')).toBe('good');
  });

  it('streams rejected records to the attempt’s .rejected.jsonl', async () => {
    const store = new MemoryStore();
    const writer = new AttemptOutput(store, ref).rejectedWriter();
    await writer.write('line\n');
    await writer.end();
    expect(store.text('_sfn-fanout/runs/r1/attempts/part-00004.att.rejected.jsonl')).toBe('line\n');
  });
});

describe('committing an attempt', () => {
  it('copies the staged outputs and rejected records of a half to its partition’s keys, and says what it published', async () => {
    const store = new MemoryStore();
    const staged = '_sfn-fanout/runs/r0/attempts/part-00002-1.a9';
    await store.write(`${staged}/x.json`, 'X');
    await store.write(`${staged}/d/y.json`, 'Y');
    await store.write(`${staged}.rejected.jsonl`, 'R');
    const committed = await commitAttempt(store, 'r0', succeeded({ id: 2, split: '1', attempt: 'a9', rejected: 1, staged: ['x.json', 'd/y.json'] }));
    expect(committed).toStrictEqual({
      id: 2,
      split: '1',
      run: 'r0',
      attempt: 'a9',
      outcome: `${staged}.json`,
      outputs: ['partitions/part-00002-1/x.json', 'partitions/part-00002-1/d/y.json'],
      rejected: 'rejected/part-00002-1.jsonl',
    });
    expect(store.text('partitions/part-00002-1/x.json')).toBe('X');
    expect(store.text('partitions/part-00002-1/d/y.json')).toBe('Y');
    expect(store.text('rejected/part-00002-1.jsonl')).toBe('R');
  });

  it('publishes no rejected file for an attempt that rejected nothing, and no split for a whole partition', async () => {
    const store = new MemoryStore();
    await store.write('_sfn-fanout/runs/r0/attempts/part-00003.a1/o.txt', 'O');
    store.log.length = 0;
    expect(await commitAttempt(store, 'r0', succeeded({ id: 3, staged: ['o.txt'] }))).toStrictEqual({
      id: 3, run: 'r0', attempt: 'a1', outcome: '_sfn-fanout/runs/r0/attempts/part-00003.a1.json', outputs: ['partitions/part-00003/o.txt'],
    });
    expect(store.log).toStrictEqual(['copy _sfn-fanout/runs/r0/attempts/part-00003.a1/o.txt -> partitions/part-00003/o.txt']);
  });

  it('writes a run manifest listing partitions, failures by name only, and every committed key', () => {
    const a = { id: 0, run: 'r1', attempt: 'x', outcome: 'o0', outputs: ['partitions/part-00000/a', 'partitions/part-00000/b'], rejected: 'rejected/part-00000.jsonl' };
    const b = { id: 1, split: '2', run: 'r0', attempt: 'y', outcome: 'o1', outputs: ['partitions/part-00001-2/a'] };
    const failed = [
      { id: 1, split: '1', status: 'failed' as const, bytes: 5, error: 'E', cause: 'c', attempt: 'z' },
      { id: 2, status: 'failed' as const, bytes: 6, error: 'E', cause: 'c' },
    ];
    expect(runManifest('r1', 'FAILED', 'mem://out', [a, b], failed, { plan: 'plan.jsonl', resumes: 'r0' })).toStrictEqual({
      runId: 'r1',
      status: 'FAILED',
      output: 'mem://out',
      plan: 'plan.jsonl',
      resumes: 'r0',
      partitions: [a, b],
      failed: [{ id: 1, split: '1' }, { id: 2 }],
      committed: ['partitions/part-00000/a', 'partitions/part-00000/b', 'rejected/part-00000.jsonl', 'partitions/part-00001-2/a'],
    });
    expect(runManifest('r2', 'SUCCEEDED', 'mem://out', [], [])).toStrictEqual({ runId: 'r2', status: 'SUCCEEDED', output: 'mem://out', partitions: [], failed: [], committed: [] });
    expect(runManifest('r2', 'SUCCEEDED', 'mem://out', [], [], { plan: undefined, resumes: undefined })).toStrictEqual({ runId: 'r2', status: 'SUCCEEDED', output: 'mem://out', partitions: [], failed: [], committed: [] });
  });
});

describe('a partition’s rejected records', () => {
  const FLUSH_CHARS = 1 << 20;
  /** A line whose JSON document, with its newline, is `chars` long. */
  const EMPTY_LINE_CHARS = `${JSON.stringify({ key: 'k', offset: 0, message: 'm', line: '' })}\n`.length;
  const lineOf = (chars: number): string => 'x'.repeat(chars - EMPTY_LINE_CHARS);

  it('writes every record as a JSON line, redacted, and keeps only the first 10 as samples', async () => {
    const store = new MemoryStore();
    const rejected = new RejectedRecords(() => store.writer('rej.jsonl'), (text) => text.replaceAll('s3cret', '***'));
    for (let i = 0; i < 12; i += 1) rejected.add('in.txt', i * 10, new Error(`bad ${i}`), `line s3cret ${i}`);
    rejected.add('in.txt', 120, 'a string thrown', 'last');
    expect(rejected.count).toBe(13);
    expect(rejected.samples).toStrictEqual(Array.from({ length: 10 }, (_, i) => ({ key: 'in.txt', offset: i * 10, message: `bad ${i}` })));
    await rejected.close();
    const lines = store.text('rej.jsonl')!.split('\n');
    expect(lines).toHaveLength(14);
    expect(lines[13]).toBe('');
    expect(JSON.parse(lines[0]!)).toStrictEqual({ key: 'in.txt', offset: 0, message: 'bad 0', line: 'line *** 0' });
    expect(JSON.parse(lines[12]!)).toStrictEqual({ key: 'in.txt', offset: 120, message: 'a string thrown', line: 'last' });
  });

  it('opens no file when nothing was rejected', async () => {
    const store = new MemoryStore();
    const rejected = new RejectedRecords(() => store.writer('rej.jsonl'));
    await rejected.flushIfFull();
    await rejected.close();
    expect(store.log).toStrictEqual([]);
  });

  it('writes the buffer once it holds 1 MiB of text, not before', async () => {
    const store = new MemoryStore();
    const chunks: string[] = [];
    const rejected = new RejectedRecords(() => ({ write: async (chunk) => void chunks.push(String(chunk)), end: async () => store.write('done', ''), abort: async () => {} }));
    rejected.add('k', 0, new Error('m'), lineOf(FLUSH_CHARS - 1));
    await rejected.flushIfFull();
    expect(chunks).toHaveLength(0);
    rejected.add('k', 0, new Error('m'), '');
    await rejected.flushIfFull();
    expect(chunks.map((chunk) => chunk.length)).toStrictEqual([FLUSH_CHARS - 1 + EMPTY_LINE_CHARS]);
    await rejected.flushIfFull();
    expect(chunks).toHaveLength(1);
    await rejected.close();
    expect(chunks).toHaveLength(1);
    expect(store.log).toStrictEqual(['write done']);
  });

  it('writes exactly 1 MiB as soon as it is buffered', async () => {
    const chunks: string[] = [];
    const rejected = new RejectedRecords(() => ({ write: async (chunk) => void chunks.push(String(chunk)), end: async () => {}, abort: async () => {} }));
    rejected.add('k', 0, new Error('m'), lineOf(FLUSH_CHARS));
    await rejected.flushIfFull();
    expect(chunks.map((chunk) => chunk.length)).toStrictEqual([FLUSH_CHARS]);
  });

  it('on abort drops what it holds and aborts the file it opened', async () => {
    const store = new MemoryStore();
    const rejected = new RejectedRecords(() => store.writer('rej.jsonl'));
    rejected.add('k', 0, new Error('m'), lineOf(FLUSH_CHARS));
    await rejected.flushIfFull();
    rejected.add('k', 1, new Error('m'), 'more');
    await rejected.abort();
    expect(store.log).toStrictEqual(['open rej.jsonl', 'abort rej.jsonl']);
    expect(store.text('rej.jsonl')).toBeUndefined();
  });

  it('on abort before any write opens nothing', async () => {
    const store = new MemoryStore();
    const rejected = new RejectedRecords(() => store.writer('rej.jsonl'));
    rejected.add('k', 0, new Error('m'), 'x');
    await rejected.abort();
    expect(store.log).toStrictEqual([]);
  });
});

describe('reducing results', () => {
  it('orders partitions by id, then a split one’s halves', () => {
    const names = [{ id: 2 }, { id: 1, split: '2' }, { id: 10 }, { id: 1, split: '1' }, { id: 0 }];
    expect(names.sort(partitionOrder)).toStrictEqual([{ id: 0 }, { id: 1, split: '1' }, { id: 1, split: '2' }, { id: 2 }, { id: 10 }]);
    expect(partitionOrder({ id: 3 }, { id: 3, split: '1' })).toBeLessThan(0);
    expect(partitionOrder({ id: 3, split: '1' }, { id: 3 })).toBeGreaterThan(0);
  });

  it('merges a handler’s results pairwise, neighbours first, awaiting an async merge', async () => {
    const merge = async (a: unknown, b: unknown): Promise<string> => `(${String(a)}+${String(b)})`;
    const fold = async (count: number): Promise<unknown> => {
      const folding = resultFold(merge);
      for (let i = 0; i < count; i += 1) await folding.add(String(i));
      return folding.result();
    };
    expect(await fold(0)).toBeNull();
    expect(await fold(1)).toBe('0');
    expect(await fold(3)).toBe('((0+1)+2)');
    expect(await fold(5)).toBe('(((0+1)+(2+3))+4)');
    expect(await fold(7)).toBe('(((0+1)+(2+3))+((4+5)+6))');
  });

  it('merges with the default merge when the handler has none: null for no results', async () => {
    const folding = resultFold(undefined);
    expect(await folding.result()).toBeNull();
    await folding.add({ n: 1, seen: ['a'] });
    await folding.add({ n: 2, seen: ['b'] });
    expect(JSON.stringify(await folding.result())).toBe('{"n":3,"seen":["a","b"]}');
  });

  it('gives null for a merged result of null', async () => {
    const folding = resultFold(() => null);
    await folding.add(1);
    await folding.add(2);
    expect(await folding.result()).toBeNull();
  });

  it('refuses a merge that returns what is not JSON data, saying what it returned', async () => {
    const advice = ': it must return the merged result as JSON data (an object, array, string, finite number, boolean or null). Check that every path of merge returns a value.';
    const cases: [unknown, string][] = [[undefined, 'undefined'], [() => 1, 'a function'], [Symbol('s'), 'a symbol'], [Number.NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']];
    for (const [value, kind] of cases) {
      const folding = resultFold(() => value);
      await folding.add(1);
      await expect(folding.add(2)).rejects.toThrow(`The handler's merge(a, b) returned ${kind}${advice}`);
    }
    for (const value of [0, false, '', null]) {
      const folding = resultFold(() => value);
      await folding.add(1);
      await folding.add(2);
      expect(await folding.result()).toBe(value);
    }
  });

  it('counts partitions, records, handed, rejected and bytes, failed partitions by what they carried', () => {
    expect(countOutcomes([
      { status: 'succeeded', records: 5, handed: 4, rejected: 1, bytes: 100 },
      { status: 'failed', records: 3, handed: 1, rejected: 2, bytes: 50 },
      { status: 'failed' },
      { status: 'succeeded', records: 1, handed: 1, rejected: 0 },
    ])).toStrictEqual({ partitions: 4, succeeded: 2, failed: 2, records: 9, handed: 6, rejected: 3, bytes: 150 });
  });

  it('fails a batch only when its failed share is over the tolerance', () => {
    const counts = (partitions: number, failed: number) => ({ partitions, succeeded: partitions - failed, failed, records: 0, handed: 0, rejected: 0, bytes: 0 });
    expect(batchStatus(counts(4, 1), 25)).toBe('SUCCEEDED');
    expect(batchStatus(counts(4, 1), 24)).toBe('FAILED');
    expect(batchStatus(counts(4, 0), 0)).toBe('SUCCEEDED');
    expect(batchStatus(counts(1, 1), 99)).toBe('FAILED');
    expect(batchStatus(counts(0, 0), 0)).toBe('SUCCEEDED');
  });

  it('reduces outcomes in partition order, whatever order they came in, listing failures in that order', async () => {
    const failed = (id: number) => ({ id, status: 'failed' as const, bytes: 1, error: `E${id}`, cause: `c${id}` });
    const batch = await reduceOutcomes([succeeded({ id: 2, result: 'c' }), failed(3), succeeded({ id: 0, result: 'a' }), failed(1), succeeded({ id: 4, split: '1', result: 'd' })], (a, b) => `${String(a)}${String(b)}`, 40);
    expect(batch).toStrictEqual({
      status: 'SUCCEEDED', partitions: 5, succeeded: 3, failed: 2, records: 6, handed: 6, rejected: 0, bytes: 32, toleratedFailurePercentage: 40, result: 'acd',
      failures: [{ id: 1, error: 'E1', cause: 'c1' }, { id: 3, error: 'E3', cause: 'c3' }],
    });
    expect(failuresOf([failed(5), succeeded({ id: 0 })])).toStrictEqual([{ id: 5, error: 'E5', cause: 'c5' }]);
  });
});

describe('resuming a run', () => {
  const job = { input: 's3://in/logs/', format: 'lines' } as Job;
  const plan = [
    { id: 0, bytes: 10, segments: [{ key: 'a.txt', start: 0, end: 10, identity: 'v1' }] },
    { id: 1, bytes: 20, segments: [{ key: 'b.txt', start: 0, end: 8, identity: 'v1' }, { key: 'c.txt', start: 0, end: 12 }] },
  ];
  const committed = { id: 0, run: 'r0', attempt: 'x', outcome: '_sfn-fanout/runs/r0/attempts/part-00000.x.json', outputs: [] };

  /** The output of a finished run r0 that failed partition 1 (or `failed`), and the input it read. */
  async function finishedRun(manifest: Partial<RunManifest> = {}): Promise<{ destination: MemoryStore; source: MemoryStore }> {
    const destination = new MemoryStore();
    await destination.write('plan.jsonl', plan.map((partition) => `${JSON.stringify(partition)}\n`).join(''));
    await destination.write(committed.outcome, '{}');
    await destination.write('_sfn-fanout/runs/r0/manifest.json', JSON.stringify({ runId: 'r0', status: 'FAILED', output: destination.uri, plan: 'plan.jsonl', partitions: [committed], failed: [{ id: 1 }], committed: [], ...manifest }));
    await destination.write('_sfn-fanout/runs/r0/batch.json', JSON.stringify({ job: { ...job, output: 'x' }, plan: { objects: 3, bytes: 30, partitions: 2, extra: true } }));
    const source = new MemoryStore();
    await source.write('a.txt', 'x'.repeat(10), 'v1');
    await source.write('b.txt', 'x'.repeat(8), 'v1');
    await source.write('c.txt', 'x'.repeat(12), 'v1');
    return { destination, source };
  }

  it('reads the run’s manifest and plan summary, checked against the input as it is', async () => {
    const { destination, source } = await finishedRun();
    await source.write('empty.txt', '');
    const point = await resumePoint(destination, 'r0', job, source);
    expect(point.plan).toStrictEqual({ objects: 3, bytes: 30, partitions: 2 });
    expect(point.manifest).toMatchObject({ runId: 'r0', plan: 'plan.jsonl', failed: [{ id: 1 }] });
  });

  it('refuses a run with no manifest or no batch file, one that recorded no plan, and one of another input or format', async () => {
    const unfinished = 'resume r0: mem://bucket/out/_sfn-fanout/runs/r0/ holds no run manifest and batch file, so that run never finished its Reduce step';
    const noManifest = await finishedRun();
    noManifest.destination.objects.delete('_sfn-fanout/runs/r0/manifest.json');
    await expect(resumePoint(noManifest.destination, 'r0', job)).rejects.toThrow(unfinished);
    const noBatch = await finishedRun();
    noBatch.destination.objects.delete('_sfn-fanout/runs/r0/batch.json');
    await expect(resumePoint(noBatch.destination, 'r0', job)).rejects.toThrow(unfinished);
    const noPlan = await finishedRun({ plan: undefined });
    await expect(resumePoint(noPlan.destination, 'r0', job)).rejects.toThrow('resume r0: that run did not record its plan (an older sfn-fanout made it): start a new run.');
    const { destination } = await finishedRun();
    const other = 'A resumed run reads exactly what the run it resumes read: give the same input and format.';
    await expect(resumePoint(destination, 'r0', { ...job, input: 's3://in/other/' })).rejects.toThrow(`resume r0: that run read s3://in/logs/ as lines, and this one would read s3://in/other/ as lines. ${other}`);
    await expect(resumePoint(destination, 'r0', { ...job, format: 'csv' })).rejects.toThrow(`resume r0: that run read s3://in/logs/ as lines, and this one would read s3://in/logs/ as csv. ${other}`);
  });

  it('refuses a run whose committed attempts are gone, naming the first', async () => {
    const { destination, source } = await finishedRun();
    destination.objects.delete(committed.outcome);
    await expect(resumePoint(destination, 'r0', job, source)).rejects.toThrow(
      'resume r0: the attempts that run committed are gone (mem://bucket/out/_sfn-fanout/runs/r0/attempts/part-00000.x.json does not exist: deleted, or expired by a lifecycle rule), so their results cannot be counted again. Start a new run.',
    );
    await expect(resumePoint(destination, 'r0', job)).resolves.toMatchObject({ manifest: { runId: 'r0' } });
    const none = await finishedRun({ partitions: [] });
    none.destination.objects.delete(committed.outcome);
    await expect(checkCommittedAttempts(none.destination, await resumePoint(none.destination, 'r0', job))).resolves.toBeUndefined();
  });

  it('refuses an input with objects added, changed in size or version, or removed, naming at most three of each', async () => {
    const { destination, source } = await finishedRun();
    const point: ResumePoint = await resumePoint(destination, 'r0', job);
    await source.write('a.txt', 'x'.repeat(11), 'v1');
    await source.write('b.txt', 'x'.repeat(8), 'v2');
    source.objects.delete('c.txt');
    for (const key of ['n1', 'n2', 'n3', 'n4']) await source.write(key, 'new');
    await expect(checkInputUnchanged(source, destination, point)).rejects.toThrow(
      'resume r0: the input changed since that run planned it: 4 added (mem://bucket/out/n1, mem://bucket/out/n2, mem://bucket/out/n3, …); 2 changed (mem://bucket/out/a.txt, mem://bucket/out/b.txt); 1 removed (mem://bucket/out/c.txt). A resumed run counts the partitions that run committed from the input as it was then, so the change would be left out: start a new run over the input as it is now.',
    );
    source.objects.delete('n4');
    await expect(checkInputUnchanged(source, destination, point)).rejects.toThrow('3 added (mem://bucket/out/n1, mem://bucket/out/n2, mem://bucket/out/n3); 2 changed');
  });

  it('takes a planned object’s size from its furthest segment, and compares versions only where both are known', async () => {
    const { destination, source } = await finishedRun();
    await destination.write('plan.jsonl', `${JSON.stringify({ id: 0, bytes: 10, segments: [{ key: 'a.txt', start: 5, end: 10 }] })}\n${JSON.stringify({ id: 1, bytes: 5, segments: [{ key: 'a.txt', start: 0, end: 5 }] })}\n`);
    source.objects.clear();
    await source.write('a.txt', 'x'.repeat(10), 'v9');
    const point = await resumePoint(destination, 'r0', job);
    await expect(checkInputUnchanged(source, destination, point)).resolves.toBeUndefined();
    await source.write('a.txt', 'x'.repeat(5), 'v9');
    await expect(checkInputUnchanged(source, destination, point)).rejects.toThrow(
      new InputError('resume r0: the input changed since that run planned it: 1 changed (mem://bucket/out/a.txt). A resumed run counts the partitions that run committed from the input as it was then, so the change would be left out: start a new run over the input as it is now.'),
    );
  });

  it('refuses an input where one object was renamed, or one added and one changed: changes of each kind never cancel out', async () => {
    const renamed = await finishedRun();
    await renamed.source.write('d.txt', renamed.source.text('c.txt')!);
    renamed.source.objects.delete('c.txt');
    const point = await resumePoint(renamed.destination, 'r0', job);
    await expect(checkInputUnchanged(renamed.source, renamed.destination, point)).rejects.toThrow('the input changed since that run planned it: 1 added (mem://bucket/out/d.txt); 1 removed (mem://bucket/out/c.txt).');
    const grown = await finishedRun();
    await grown.source.write('a.txt', 'x'.repeat(11), 'v1');
    await grown.source.write('d.txt', 'new');
    await expect(checkInputUnchanged(grown.source, grown.destination, point)).rejects.toThrow('the input changed since that run planned it: 1 added (mem://bucket/out/d.txt); 1 changed (mem://bucket/out/a.txt).');
  });

  it('takes an object listed without a version as unchanged when its size is', async () => {
    const { destination, source } = await finishedRun();
    await source.write('a.txt', 'x'.repeat(10), undefined);
    await expect(checkInputUnchanged(source, destination, await resumePoint(destination, 'r0', job))).resolves.toBeUndefined();
  });

  it('runs again exactly the failed partitions and halves, by reference to the plan', async () => {
    const { destination } = await finishedRun({ failed: [{ id: 1, split: '2' }, { id: 0 }] });
    const items = await resumeItems(destination, await resumePoint(destination, 'r0', job));
    const line0 = `${JSON.stringify(plan[0])}\n`.length;
    expect(items).toStrictEqual([
      { id: 1, split: '2', bytes: 10, manifest: { key: 'plan.jsonl', start: line0, end: line0 + JSON.stringify(plan[1]).length } },
      { id: 0, bytes: 10, manifest: { key: 'plan.jsonl', start: 0, end: line0 - 1 } },
    ]);
  });

  it('refuses a failed partition its plan does not have', async () => {
    const { destination } = await finishedRun({ failed: [{ id: 7, split: '1' }] });
    await expect(resumeItems(destination, await resumePoint(destination, 'r0', job))).rejects.toThrow(
      'resume r0: its plan mem://bucket/out/plan.jsonl has no partition 00007-1: it was overwritten. Start a new run.',
    );
  });
});

describe('running a partition', () => {
  /** One partition over one object `in.ndjson` read `chunk` bytes at a time, staged in memory. */
  async function partitionOf(body: string, chunk = Infinity, split?: string): Promise<{ run: Omit<PartitionRun, 'handler' | 'maxRejected'>; output: MemoryStore }> {
    const source = new MemoryStore();
    source.chunk = chunk;
    await source.write('in.ndjson', body);
    const output = new MemoryStore();
    const partition = { id: 3, ...(split === undefined ? {} : { split }), bytes: body.length, segments: [{ key: 'in.ndjson', start: 0, end: body.length }] };
    return { output, run: { partition, format: 'ndjson', source, output: new AttemptOutput(output, { runId: 'r', partition, attempt: 'a' }), now: () => 7 } };
  }
  const parseError = (text: string): string => {
    try {
      JSON.parse(text);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('parses');
  };
  const throwing = checkHandler({ processRecord: () => { throw new Error('no'); } }, 'throwing');
  const collecting = checkHandler({ init: () => ({ v: [] }), processRecord: (state: { v: unknown[] }, record: unknown) => { state.v.push(record); } }, 'collecting');

  it('reports a half, its lane, counts and result, exactly', async () => {
    const { run } = await partitionOf('{"a":1}\n\n{"a":2}\n', Infinity, '2');
    expect(await runPartition({ ...run, lane: 'stream-1', maxRejected: { count: 0 }, handler: collecting })).toStrictEqual({
      id: 3, split: '2', status: 'succeeded', attempt: 'a', bytes: 17, records: 2, handed: 2, rejected: 0, lane: 'stream-1', rejectedSamples: [], outputs: [], staged: [], startedAt: 7, finishedAt: 7, result: { v: [{ a: 1 }, { a: 2 }] },
    });
  });

  it('reports a whole partition with no lane known without either field', async () => {
    const { run } = await partitionOf('{"a":1}\n');
    expect(await runPartition({ ...run, maxRejected: { count: 0 }, handler: collecting })).toStrictEqual({
      id: 3, status: 'succeeded', attempt: 'a', bytes: 8, records: 1, handed: 1, rejected: 0, rejectedSamples: [], outputs: [], staged: [], startedAt: 7, finishedAt: 7, result: { v: [{ a: 1 }] },
    });
  });

  it('finds no records in a gzipped CSV that is empty', async () => {
    const source = new MemoryStore();
    await source.write('empty.csv.gz', gzipSync(''));
    const partition = { id: 0, bytes: 20, segments: [{ key: 'empty.csv.gz', start: 0, end: 20 }] };
    const output = new AttemptOutput(new MemoryStore(), { runId: 'r', partition, attempt: 'a' });
    expect(await runPartition({ partition, format: 'csv', source, output, maxRejected: { count: 0 }, handler: collecting })).toMatchObject({ records: 0, handed: 0, rejected: 0, result: { v: [] } });
  });

  it('succeeds with as many rejected records as a count limit allows, and fails one over it', async () => {
    const { run } = await partitionOf('bad\n{"a":1}\nworse\n');
    expect(await runPartition({ ...run, maxRejected: { count: 2 }, handler: collecting })).toMatchObject({ records: 3, handed: 1, rejected: 2, result: { v: [{ a: 1 }] } });
    const again = await partitionOf('bad\n{"a":1}\nworse\n');
    await expect(runPartition({ ...again.run, maxRejected: { count: 1 }, handler: collecting })).rejects.toThrow(
      `Partition 3 rejected 2 of 3 records read before it stopped, over max-rejected 1. First: in.ndjson at byte 0: ${parseError('bad')}. The rejected records are at mem://bucket/out/_sfn-fanout/runs/r/attempts/part-00003.a.rejected.jsonl.`,
    );
  });

  it('succeeds with a rejected share exactly at a percent limit, and fails one over it', async () => {
    const { run } = await partitionOf('bad\n{"a":1}\n');
    expect(await runPartition({ ...run, maxRejected: { percent: 50 }, handler: collecting })).toMatchObject({ records: 2, handed: 1, rejected: 1 });
    const again = await partitionOf('bad\n{"a":1}\n');
    await expect(runPartition({ ...again.run, maxRejected: { percent: 49 }, handler: collecting })).rejects.toThrow('Partition 3 rejected 1 of 2 records, over max-rejected 49%. First: in.ndjson at byte 0');
  });

  it('stops reading at the chunk where a count limit is passed, and keeps what it rejected', async () => {
    const body = Array.from({ length: 10 }, (_, i) => `bad${i}`).join('\n');
    const { run, output } = await partitionOf(body, 10);
    const failure = (await runPartition({ ...run, maxRejected: { count: 1 }, handler: collecting }).catch((error: unknown) => error)) as RejectedRecordsError;
    expect(failure).toBeInstanceOf(RejectedRecordsError);
    expect(failure.message).toBe(
      `Partition 3 rejected 2 of 2 records read before it stopped, over max-rejected 1. First: in.ndjson at byte 0: ${parseError('bad0')}. The rejected records are at mem://bucket/out/_sfn-fanout/runs/r/attempts/part-00003.a.rejected.jsonl. Fix the data or the handler, or raise max-rejected.`,
    );
    expect(failure.counts).toStrictEqual({ records: 2, handed: 0, rejected: 2 });
    expect(output.text('_sfn-fanout/runs/r/attempts/part-00003.a.rejected.jsonl')!.split('\n').map((line) => (line === '' ? '' : (JSON.parse(line) as { line: string }).line))).toStrictEqual(['bad0', 'bad1', '']);
  });

  it('stops a fold at the chunk where the records it threw on pass a count limit, without finishing', async () => {
    const body = Array.from({ length: 10 }, (_, i) => `{"i":${i}}`).join('\n');
    const { run } = await partitionOf(body, 16);
    let finished = false;
    const handler = checkHandler({ processRecord: () => { throw new Error('no'); }, finish: () => { finished = true; } }, 'throwing');
    const failure = (await runPartition({ ...run, maxRejected: { count: 0 }, handler }).catch((error: unknown) => error)) as RejectedRecordsError;
    expect(failure.counts).toStrictEqual({ records: 2, handed: 2, rejected: 2 });
    expect(failure.message).toContain('rejected 2 of 2 records read before it stopped, over max-rejected 0. First: in.ndjson at byte 0: no.');
    expect(finished).toBe(false);
    const whole = await partitionOf(body, 16);
    await expect(runPartition({ ...whole.run, maxRejected: { count: 10 }, handler: throwing })).resolves.toMatchObject({ records: 10, handed: 10, rejected: 10, result: {} });
  });

  it('fails a processPartition that returns before reading every record, naming the next one, also at a chunk boundary', async () => {
    const body = '{"i":0}\n{"i":1}\n{"i":2}\n';
    for (const [take, next] of [[1, 8], [2, 16], [0, 0]] as const) {
      const { run } = await partitionOf(body, 16);
      const handler = checkHandler({
        async processPartition(records: AsyncIterable<FanoutRecord>) {
          let taken = 0;
          if (take === 0) return 'none';
          for await (const record of records) {
            void record;
            taken += 1;
            if (taken === take) return 'early';
          }
          return 'all';
        },
      }, 'early');
      await expect(runPartition({ ...run, maxRejected: { count: 0 }, handler })).rejects.toThrow(
        new UnreadRecordsError(`Partition 3: processPartition returned after ${take} of the partition’s records without reading the rest (the next was in.ndjson at byte ${next}). A processPartition handler must read every record: loop over all of \`records\`, skipping with continue, never returning or breaking out early.`),
      );
    }
  });

  it('hands a processPartition every record across chunks, counted, and lets one stop after a count limit is passed', async () => {
    const { run } = await partitionOf('{"i":0}\n{"i":1}\n{"i":2}\n', 8);
    const handler = checkHandler({
      async processPartition(records: AsyncIterable<FanoutRecord<{ i: number }>>) {
        const seen: string[] = [];
        for await (const record of records) seen.push(`${record.key}@${record.offset}=${record.value.i}`);
        return seen;
      },
    }, 'all');
    expect(await runPartition({ ...run, maxRejected: { count: 0 }, handler })).toMatchObject({ records: 3, handed: 3, result: ['in.ndjson@0=0', 'in.ndjson@8=1', 'in.ndjson@16=2'] });
    // One chunk: two lines rejected past the limit and two records; the handler takes one and returns, as the partition has failed anyway.
    const bad = await partitionOf('bad\nworse\n{"i":2}\n{"i":3}\n');
    const firstOnly = checkHandler({
      async processPartition(records: AsyncIterable<FanoutRecord>) {
        for await (const record of records) return record;
        return undefined;
      },
    }, 'first');
    await expect(runPartition({ ...bad.run, maxRejected: { count: 1 }, handler: firstOnly })).rejects.toThrow(new RejectedRecordsError(
      `Partition 3 rejected 2 of 3 records read before it stopped, over max-rejected 1. First: in.ndjson at byte 0: ${parseError('bad')}. The rejected records are at mem://bucket/out/_sfn-fanout/runs/r/attempts/part-00003.a.rejected.jsonl. Fix the data or the handler, or raise max-rejected.`,
      { records: 3, handed: 1, rejected: 2 },
    ));
  });

  it('stops handing records to a processPartition at the chunk where a count limit is passed', async () => {
    const { run } = await partitionOf('bad0\nbad1\n{"i":2}\n{"i":3}\n', 10);
    const handler = checkHandler({
      async processPartition(records: AsyncIterable<FanoutRecord>) {
        const seen: unknown[] = [];
        for await (const record of records) seen.push(record.value);
        return seen;
      },
    }, 'all');
    const failure = (await runPartition({ ...run, maxRejected: { count: 1 }, handler }).catch((error: unknown) => error)) as RejectedRecordsError;
    expect(failure.counts).toStrictEqual({ records: 2, handed: 0, rejected: 2 });
  });

  it('closes the reads a processPartition left open when it returned early', async () => {
    const { run } = await partitionOf('{"i":0}\n{"i":1}\n{"i":2}\n', 8);
    const source = run.source as MemoryStore;
    const firstOnly = checkHandler({
      async processPartition(records: AsyncIterable<FanoutRecord>) {
        for await (const record of records) return record;
        return undefined;
      },
    }, 'first');
    await expect(runPartition({ ...run, maxRejected: { count: 0 }, handler: firstOnly })).rejects.toThrow(UnreadRecordsError);
    expect(source.log.filter((entry) => entry.startsWith('read'))).toStrictEqual(['read in.ndjson', 'read in.ndjson closed']);
  });

  it('tells processRecord the partition, object and byte offset of each record', async () => {
    const { run } = await partitionOf('{"i":0}\n\n{"i":1}\n');
    const where = checkHandler({
      init: () => [] as string[],
      processRecord: (seen: string[], _record: unknown, context: { partitionId: number; key: string; offset: number }) => void seen.push(`${context.partitionId}:${context.key}@${context.offset}`),
    }, 'where');
    expect((await runPartition({ ...run, maxRejected: { count: 0 }, handler: where })).result).toStrictEqual(['3:in.ndjson@0', '3:in.ndjson@9']);
  });

  it('takes a fold’s state from what processRecord returns: null, a promise’s value, or a thenable function’s value', async () => {
    const { run } = await partitionOf('{"i":1}\n{"i":2}\n');
    const nulling = checkHandler({ init: () => 5, processRecord: () => null }, 'null');
    expect(await runPartition({ ...run, maxRejected: { count: 0 }, handler: nulling })).toMatchObject({ rejected: 0, result: null });
    const again = await partitionOf('{"i":1}\n{"i":2}\n');
    const thenable = checkHandler({
      init: () => 0,
      processRecord: (state: number, record: { i: number }) => Object.assign(() => 'not a state', { then: (resolve: (value: number) => void) => resolve(state + record.i) }),
    }, 'thenable');
    expect(await runPartition({ ...again.run, maxRejected: { count: 0 }, handler: thenable })).toMatchObject({ rejected: 0, result: 3 });
    const third = await partitionOf('{"i":1}\n{"i":2}\n');
    const asynchronous = checkHandler({ init: async () => 10, processRecord: async (state: number, record: { i: number }) => state + record.i, finish: async (state: number) => state * 2 }, 'async');
    expect(await runPartition({ ...third.run, maxRejected: { count: 0 }, handler: asynchronous })).toMatchObject({ rejected: 0, result: 26 });
    const fourth = await partitionOf('{"i":1}\n{"i":2}\n');
    const mutating = checkHandler({ init: () => ({ sum: 0 }), processRecord: async (state: { sum: number }, record: { i: number }) => void (state.sum += record.i) }, 'mutating');
    expect(await runPartition({ ...fourth.run, maxRejected: { count: 0 }, handler: mutating })).toMatchObject({ rejected: 0, result: { sum: 3 } });
  });

  it('keeps a record a fold threw on as its JSON in the rejected records', async () => {
    const { run, output } = await partitionOf('{"i":1}\n"text"\n');
    expect(await runPartition({ ...run, maxRejected: { count: 2 }, handler: throwing })).toMatchObject({ rejected: 2, rejectedSamples: [{ key: 'in.ndjson', offset: 0, message: 'no' }, { key: 'in.ndjson', offset: 8, message: 'no' }] });
    expect(output.text('_sfn-fanout/runs/r/attempts/part-00003.a.rejected.jsonl')).toBe(
      `${JSON.stringify({ key: 'in.ndjson', offset: 0, message: 'no', line: '{"i":1}' })}\n${JSON.stringify({ key: 'in.ndjson', offset: 8, message: 'no', line: '"text"' })}\n`,
    );
  });
});
