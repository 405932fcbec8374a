/**
 * Exactly once under every fault (issue 11): one case per way a record was lost or duplicated. Each
 * case counts the records in the committed outputs and in the report against the input the test
 * wrote itself, never only the status.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { jest } from '@jest/globals';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { main } from '../src/cli.ts';
import { InputError } from '../src/errors.ts';
import { parseLocation } from '../src/location.ts';
import { parseJob } from '../src/job.ts';
import { LambdaPool } from '../src/local/lambda-pool.ts';
import { runLocal, type Invoke, type LocalRunOptions } from '../src/local/local-engine.ts';
import { defaultTemplatePath, functionArn, loadStateMachine } from '../src/local/template-definition.ts';
import type { BatchReport } from '../src/report/batch-report.ts';
import { DirStore } from '../src/store/dir-store.ts';
import type { ObjectStore } from '../src/store/object-store.ts';
import { openStore } from '../src/store/open-store.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { readJson } from '../src/store/read-json.ts';
import { sortedCopy, tempDir } from './helpers/corpus.ts';
import { TEST_CREDENTIALS, describeWithMoto, setEnv, startMoto, type Moto } from './helpers/moto.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const faultHandler = path.join(here, 'fixtures/fault-handler.ts');
const realSetTimeout = globalThis.setTimeout;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => realSetTimeout(resolve, ms));

/** Lines of equal width, so files of as many lines are as many bytes and each is its own partition. */
function records(prefix: string, count: number, first: string[] = []): string[] {
  return Array.from({ length: count }, (_, i) => `${first[i] ?? ''}${prefix} record ${String(i).padStart(4, '0')}`.padEnd(60, '.'));
}

async function inputDir(files: string[][]): Promise<string> {
  const dir = await tempDir();
  for (const [index, lines] of files.entries()) await writeFile(path.join(dir, `f${index}.txt`), `${lines.join('\n')}\n`);
  return dir;
}

async function run(input: string, options: Partial<LocalRunOptions>, partitions: number, into?: string): Promise<{ report: BatchReport; output: string }> {
  const output = into ?? (await tempDir());
  const report = await runLocal({
    job: parseJob({ input, output, format: 'lines', partitions }),
    handler: faultHandler,
    concurrency: 2,
    retryDelayMs: 1,
    ...options,
  });
  return { report, output };
}

/** Every key under a store, as a reader that lists the output prefix sees it. */
async function keysOf(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list()) keys.push(object.key);
  return keys.sort();
}

async function textOf(store: ObjectStore, key: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of store.read(key)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const linesOf = (text: string): string[] => text.split('\n').filter((line) => line !== '');

interface Manifest {
  readonly runId: string;
  readonly status: string;
  readonly committed: readonly string[];
  readonly partitions: readonly { id: number; split?: string; attempt: string; outcome: string; outputs: readonly string[] }[];
}

/** Every record in every file under partitions/: what a reader that lists the output prefix sees. */
async function listedRecords(store: ObjectStore): Promise<string[]> {
  const lines: string[] = [];
  for (const key of (await keysOf(store)).filter((k) => k.startsWith('partitions/'))) lines.push(...linesOf(await textOf(store, key)));
  return sortedCopy(lines);
}

/** The run's manifest, and every record in the output files it lists: what a reader that follows it sees. */
async function manifestRecords(store: ObjectStore, runId: string): Promise<{ manifest: Manifest; lines: string[] }> {
  const manifest = await readJson<Manifest>(store, `_sfn-fanout/runs/${runId}/manifest.json`);
  const lines: string[] = [];
  for (const key of manifest.committed.filter((k) => k.startsWith('partitions/'))) lines.push(...linesOf(await textOf(store, key)));
  return { manifest, lines: sortedCopy(lines) };
}

const rows = (report: BatchReport) => report.partitions.map((row) => [row.split === undefined ? row.id : `${row.id}/${row.split}`, row.status, row.error]);

/** Polls in real time; under fake timers, `tick` moves the fake clock a little each time. */
async function until(check: () => boolean, what: string, tick = async (): Promise<void> => {}): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 30_000) throw new Error(`Gave up waiting for ${what}.`);
    await tick();
    await sleep(10);
  }
}

const tick = async (): Promise<void> => void (await jest.advanceTimersByTimeAsync(1));

describe('1. every Lambda Task runs to its function’s Timeout, taken from the template', () => {
  it.each([
    ['the bundled template', (text: string) => text],
    ['a template whose Tasks set no TimeoutSeconds', (text: string) => text.replace(/^\s*TimeoutSecondsPath: .*\n/gm, '')],
  ])('%s: handlers and a merge that take 70 s (virtual time) are never cut at the interpreter’s 60 s default', async (_name, edit) => {
    const dir = await tempDir();
    const template = path.join(dir, 'template.yaml');
    await writeFile(template, edit(await readFile(defaultTemplatePath(), 'utf8')));
    const go = path.join(dir, 'go');
    const merged = path.join(dir, 'merged');
    const files = ['a', 'b'].map((p) => records(p, 20, [`wait:${go} `, `merge-wait:${merged} `]));
    const input = await inputDir(files);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance'] });
    try {
      const pending = run(input, { template, runId: 'seventy-seconds' }, 2);
      let settled = false;
      void pending.finally(() => void (settled = true));
      await until(() => existsSync(`${go}.started-0`) && existsSync(`${go}.started-1`), 'both workers to start', tick);
      await jest.advanceTimersByTimeAsync(70_000);
      await writeFile(go, '');
      await until(() => existsSync(`${merged}.started`) || settled, 'the reducer’s merge to start', tick);
      await jest.advanceTimersByTimeAsync(70_000);
      await writeFile(merged, '');
      await until(() => settled, 'the run to end', tick);
      const { report, output } = await pending;
      expect(rows(report)).toEqual([[0, 'succeeded', undefined], [1, 'succeeded', undefined]]);
      expect(report).toMatchObject({ status: 'SUCCEEDED', totals: { records: 40 }, result: { records: 40 } });
      expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy(files.flat()));
      expect((await manifestRecords(new DirStore(output), 'seventy-seconds')).lines).toEqual(sortedCopy(files.flat()));
    } finally {
      jest.useRealTimers();
    }
  });

  it('a Task’s own TimeoutSeconds, shorter than its function’s Timeout, ends it with States.Timeout and stops its thread', async () => {
    const dir = await tempDir();
    const template = path.join(dir, 'template.yaml');
    const text = await readFile(defaultTemplatePath(), 'utf8');
    await writeFile(template, text.replace(/TimeoutSecondsPath: \$\.timeouts\.worker/g, 'TimeoutSeconds: 1'));
    const files = [records('a', 4), records('b', 4, ['hang '])];
    const { report, output } = await run(await inputDir(files), { template, runId: 'task-limit', parameters: { ToleratedFailurePercentage: '50' } }, 2);
    // WorkerTimeout stays 900 s: only the Tasks' 1 s can have ended the hanging partition and then its first half.
    expect(rows(report)).toEqual([[0, 'succeeded', undefined], ['1/1', 'failed', 'States.Timeout'], ['1/2', 'succeeded', undefined]]);
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy([...files[0]!, ...files[1]!.slice(2)]));
  });
});

describe('2. only the attempt the reducer counts is visible; readers read the run manifest', () => {
  it('a partition split after its timeout, whose handler had already streamed chunks, has every record in the committed outputs once', async () => {
    // The whole partition streams 300 records (6 chunks of 50), then blocks on record 300 until it times out.
    // Its second half starts at that record and blocks too, until the test lets it go.
    const dir = await tempDir();
    const go = path.join(dir, 'go');
    const lines = records('streamed', 600, Object.assign([], { 300: `wait:${go} ` }));
    const input = await inputDir([lines]);
    // Each Task's limit is its own function's Timeout: the split runs on the partitioner, the halves on workers.
    const limits: string[] = [];
    const wrapInvoke = (invoke: Invoke): Invoke => (fn, event, taskTimeoutSeconds) => {
      limits.push(`${fn.logicalId} ${taskTimeoutSeconds}`);
      return invoke(fn, event, taskTimeoutSeconds);
    };
    const parameters = { PartitionerTimeout: '41', WorkerTimeout: '2', ReducerTimeout: '43' };
    const pending = run(input, { parameters, runId: 'streamed', wrapInvoke }, 1);
    await until(() => existsSync(`${go}.started-0`) && linesOf(readFileSync(`${go}.started-0`, 'utf8')).length === 2, 'the second half to reach the blocking record');
    await writeFile(go, '');
    const { report, output } = await pending;
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy(lines));
    expect(rows(report)).toEqual([['0/1', 'succeeded', undefined], ['0/2', 'succeeded', undefined]]);
    expect(report.totals.records).toBe(600);
    expect(sortedCopy(limits)).toEqual(sortedCopy(['PartitionerFunction 41', 'WorkerFunction 2', 'PartitionerFunction 41', 'WorkerFunction 2', 'WorkerFunction 2', 'ReducerFunction 43']));
    const { manifest, lines: viaManifest } = await manifestRecords(new DirStore(output), 'streamed');
    expect(viaManifest).toEqual(sortedCopy(lines));
    expect(manifest.partitions.map(({ id, split }) => `${id}/${split}`)).toEqual(['0/1', '0/2']);
    // The attempt that timed out had streamed its first 300 records: they stay staged under it, never committed.
    const staged = (await keysOf(new DirStore(output))).filter((key) => /^_sfn-fanout\/runs\/streamed\/attempts\/part-00000\.[0-9a-f]{12}\/chunk-/.test(key));
    expect(staged).toHaveLength(6);
  });

  it('stops a timed-out thread before the failure is reported, so nothing it does can race the partition’s halves', async () => {
    const dir = await tempDir();
    const scribbled = path.join(dir, 'scribbled');
    const line = `scribble:${scribbled}`;
    await writeFile(path.join(dir, 'f.txt'), `${line}\n`);
    const machine = await loadStateMachine(defaultTemplatePath(), { InputBucket: 'local', OutputBucket: 'local', WorkerTimeout: '1' });
    const worker = machine.functions.get(functionArn('WorkerFunction'))!;
    const pool = new LambdaPool({ size: 1, environment: () => ({ SFN_FANOUT_HANDLER: faultHandler }), onOutput: () => {} });
    // When each thread is gone, in the order things happen.
    const events: string[] = [];
    const terminate = Worker.prototype.terminate;
    Worker.prototype.terminate = async function (this: Worker) {
      const code = await terminate.call(this);
      events.push('thread stopped');
      return code;
    };
    try {
      const job = parseJob({ input: dir, output: await tempDir(), format: 'lines' });
      const item = { id: 0, bytes: line.length + 1, segments: [{ key: 'f.txt', start: 0, end: line.length + 1 }] };
      const failure = await pool.invoke(worker, { job, runId: 'zombie', item }).then(
        () => undefined,
        (error: Error) => error,
      );
      events.push('failure reported');
      expect(failure?.message).toContain('Task timed out after 1.00 seconds');
      const size = statSync(scribbled).size;
      await sleep(300);
      expect(statSync(scribbled).size).toBe(size);
      expect(events).toEqual(['thread stopped', 'failure reported']);
    } finally {
      Worker.prototype.terminate = terminate;
      await pool.close();
    }
  });

  it('files left by an earlier run with more partitions are not in this run’s manifest; the manifest lists exactly this run’s records', async () => {
    const output = await tempDir();
    const before = ['a', 'b', 'c', 'd'].map((p) => records(`old-${p}`, 10));
    await run(await inputDir(before), { runId: 'earlier' }, 4, output);
    const now = ['x', 'y'].map((p) => records(`new-${p}`, 10));
    const { report } = await run(await inputDir(now), { runId: 'later' }, 2, output);
    expect(report.totals).toMatchObject({ partitions: 2, records: 20 });
    const { manifest, lines } = await manifestRecords(new DirStore(output), 'later');
    expect(manifest).toMatchObject({ runId: 'later', status: 'SUCCEEDED' });
    expect(lines).toEqual(sortedCopy(now.flat()));
    expect(manifest.committed.filter((key) => !key.startsWith('partitions/part-00000/') && !key.startsWith('partitions/part-00001/'))).toEqual([]);
    // The stale files are still there for a reader that lists the prefix: only the manifest tells them apart.
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy([...now.flat(), ...before[2]!, ...before[3]!]));
  });
});

describe('3. an output inside the input is refused before any work', () => {
  async function cli(args: string[]) {
    let err = '';
    const code = await main(args, { out: () => {}, err: (text) => void (err += text), tty: false });
    return { code, err };
  }

  it('a directory output inside the input directory: exit 2 naming both, nothing written, the input untouched', async () => {
    const lines = records('in', 100);
    const input = await inputDir([lines]);
    const output = path.join(input, 'out');
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { code, err } = await cli(['run', '--input', input, '--output', output, '--handler', faultHandler, '--format', 'lines']);
      expect(code).toBe(2);
      expect(err).toContain(`output ${output} is inside input ${input}`);
    }
    expect(existsSync(output)).toBe(false);
    expect(await readdir(input)).toEqual(['f0.txt']);
    expect(linesOf(await readFile(path.join(input, 'f0.txt'), 'utf8'))).toEqual(lines);
  });

  it.each([
    ['s3://bkt/x/', 's3://bkt/x/out/', 'output s3://bkt/x/out/ is inside input s3://bkt/x/'],
    ['s3://bkt/x', 's3://bkt/x/', 'output s3://bkt/x/ is inside input s3://bkt/x/'],
    ['s3://bkt/', 's3://bkt/results/', 'output s3://bkt/results/ is inside input s3://bkt/'],
    ['s3://bkt/out/partitions/', 's3://bkt/out/', 'input s3://bkt/out/partitions/ is where output s3://bkt/out/ writes'],
  ])('input %s with output %s is refused', (input, output, message) => {
    expect(() => parseJob({ input, output })).toThrow(InputError);
    expect(() => parseJob({ input, output })).toThrow(message);
  });

  it.each([
    ['s3://bkt/logs/', 's3://bkt/'],
    ['s3://bkt/logs/', 's3://bkt/logs-out/'],
    ['s3://bkt/x/', 's3://other/x/out/'],
  ])('input %s with output %s is fine', (input, output) => {
    expect(parseJob({ input, output })).toMatchObject({ input, output });
  });

  it('an input holding a run’s bookkeeping (an earlier output) is refused by key, before any work', async () => {
    const input = await inputDir([records('in', 10)]);
    await mkdir(path.join(input, '_sfn-fanout/runs/r1'), { recursive: true });
    await writeFile(path.join(input, '_sfn-fanout/runs/r1/batch.json'), '{}\n');
    const output = await tempDir();
    const { code, err } = await cli(['run', '--input', input, '--output', output, '--handler', faultHandler, '--format', 'lines']);
    expect(code).toBe(2);
    expect(err).toContain('_sfn-fanout/runs/r1/batch.json');
    expect(await readdir(output)).toEqual([]);
  });
});

describe('4. an input that changes after the plan fails the partitions that read it, naming the object', () => {
  it('a directory file rewritten between its two partitions: the second fails, the first is committed once, nothing is read twice', async () => {
    const a = records('a', 40);
    const b = records('b', 80);
    const input = await inputDir([a, b]);
    const size = Buffer.byteLength(`${a.join('\n')}\n`);
    // f1 is two partitions of f0's size: [0, size) and [size, 2 size); a line belongs to the range holding its first byte.
    let offset = 0;
    const firstHalf = b.filter((line) => {
      const starts = offset;
      offset += Buffer.byteLength(line) + 1;
      return starts < size;
    });
    const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, limit) => {
      if (fn.module === 'worker' && (event as { item: { id: number } }).item.id === 2) {
        await writeFile(path.join(input, 'f1.txt'), `${records('inserted', 5).join('\n')}\n${b.join('\n')}\n`);
      }
      return invoke(fn, event, limit);
    };
    const { report, output } = await run(input, { wrapInvoke, runId: 'moved', parameters: { MaxConcurrency: '1', ToleratedFailurePercentage: '50' } }, 3);
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy([...a, ...firstHalf]));
    expect(rows(report)).toEqual([[0, 'succeeded', undefined], [1, 'succeeded', undefined], [2, 'failed', 'InputChangedError']]);
    expect(report.partitions[2]!.message).toContain(`${path.join(input, 'f1.txt')} changed after the plan was made`);
    expect(report.totals.records).toBe(a.length + firstHalf.length);
    expect((await manifestRecords(new DirStore(output), 'moved')).lines).toEqual(sortedCopy([...a, ...firstHalf]));
  });

  it('a directory file appended to while a partition reads it fails that read', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'f.txt'), 'one\ntwo\n');
    const store = new DirStore(dir);
    const [object] = await keysAndIdentities(store);
    const reading = (async () => {
      for await (const _chunk of store.read('f.txt', { start: 0, end: 8 }, object!.identity)) {
        await writeFile(path.join(dir, 'f.txt'), 'one\ntwo\nthree\n');
      }
    })();
    await expect(reading).rejects.toThrow(`${path.join(dir, 'f.txt')} changed after the plan was made`);
  });

  it('a directory file replaced by one of the same size and modification time (rsync -a, cp -p, tar -x) fails the read that handed out its bytes', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'f.txt');
    await writeFile(file, 'old-1\nold-2\n');
    const mtime = new Date('2024-01-02T03:04:05Z');
    await utimes(file, mtime, mtime);
    const store = new DirStore(dir);
    const [object] = await keysAndIdentities(store);
    // Another file of the same size, given the old one's times, moved over it: only its inode and change time differ.
    const replacement = path.join(await tempDir(), 'f.txt');
    await writeFile(replacement, 'new-1\nnew-2\n');
    await utimes(replacement, mtime, mtime);
    await rename(replacement, file);
    expect([statSync(file).size, statSync(file).mtimeMs]).toEqual([12, mtime.getTime()]);
    const read: string[] = [];
    const reading = (async () => {
      for await (const chunk of store.read('f.txt', undefined, object!.identity)) read.push(Buffer.from(chunk).toString());
    })();
    await expect(reading).rejects.toThrow(`${file} changed after the plan was made`);
    // The bytes were read before the check at the end of the read: the error is what keeps them out of every output.
    expect(read.join('')).toBe('new-1\nnew-2\n');
  });

  describeWithMoto('in S3: GetObject carries If-Match with the planned ETag (moto honours it; s3rver ignores If-Match)', () => {
    let moto: Moto;
    let client: S3Client;
    let restoreEnv: () => void;
    beforeAll(async () => {
      moto = await startMoto();
      restoreEnv = setEnv({ AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey });
      client = createS3Client({ endpoint: moto.direct, region: 'us-east-1' });
      for (const Bucket of ['moving-input', 'moving-output']) await client.send(new CreateBucketCommand({ Bucket }));
    });
    afterAll(async () => {
      client?.destroy();
      restoreEnv?.();
      await moto?.stop();
    });

    it('an object overwritten after the plan fails its partition by name; the other is committed once', async () => {
      const a = records('a', 30);
      const b = records('b', 30);
      const source = new S3Store(client, 'moving-input', 'in/');
      await source.write('f0.txt', `${a.join('\n')}\n`);
      await source.write('f1.txt', `${b.join('\n')}\n`);
      const wrapInvoke = (invoke: Invoke): Invoke => async (fn, event, limit) => {
        if (fn.module === 'worker' && (event as { item: { id: number } }).item.id === 1) {
          await client.send(new PutObjectCommand({ Bucket: 'moving-input', Key: 'in/f1.txt', Body: `${records('c', 30).join('\n')}\n` }));
        }
        return invoke(fn, event, limit);
      };
      const report = await runLocal({
        job: parseJob({ input: 's3://moving-input/in/', output: 's3://moving-output/out/', format: 'lines', partitions: 2 }),
        handler: faultHandler,
        concurrency: 1,
        retryDelayMs: 1,
        runId: 'overwritten',
        s3: { endpoint: moto.direct, region: 'us-east-1' },
        wrapInvoke,
        parameters: { MaxConcurrency: '1', ToleratedFailurePercentage: '50' },
      });
      expect(rows(report)).toEqual([[0, 'succeeded', undefined], [1, 'failed', 'InputChangedError']]);
      expect(report.partitions[1]!.message).toContain('s3://moving-input/in/f1.txt changed after the plan was made');
      expect(report.totals.records).toBe(30);
      const output = new S3Store(client, 'moving-output', 'out/');
      expect(await listedRecords(output)).toEqual(sortedCopy(a));
      expect((await manifestRecords(output, 'overwritten')).lines).toEqual(sortedCopy(a));
      // A batch result that was never written reads as missing (NoSuchKey), not as an error: RecoverBatch relies on it.
      await expect(readJson(output, '_sfn-fanout/runs/overwritten/batch-results/part-00001.json')).rejects.toMatchObject({ name: 'MissingObjectError' });
    });

    it('commits (copies) outputs whose names have a space, %, +, ?, #, = or &, byte for byte (CopySource is URL-encoded; s3rver decodes it with decodeURI and cannot check this)', async () => {
      const store = openStore(parseLocation('s3://moving-output/odd/', 'output'), async () => client);
      const names = [' ', '%', '+', '?', '#', '=', '&'].map((character) => `out${character}put.txt`);
      for (const name of names) {
        await store.write(`attempts/${name}`, `${name}\n`);
        await store.copy(`attempts/${name}`, `partitions/${name}`);
      }
      const committed: string[] = [];
      for (const name of names) for await (const chunk of store.read(`partitions/${name}`)) committed.push(Buffer.from(chunk).toString());
      expect(committed).toEqual(names.map((name) => `${name}\n`));
    });
  });
});

describe('5. a processPartition that returns before reading its whole range fails, and counts only what it was handed', () => {
  it('stopping at the 11th of 80 records fails the partition by name; the others are committed and counted once', async () => {
    const files = [records('a', 80), records('b', 80, Array.from({ length: 11 }, (_, i) => (i === 10 ? 'stop ' : ''))), records('c', 80)];
    const input = await inputDir(files);
    const { report, output } = await run(input, { runId: 'early', parameters: { ToleratedFailurePercentage: '50' } }, 3);
    expect(rows(report)).toEqual([[0, 'succeeded', undefined], [1, 'failed', 'UnreadRecordsError'], [2, 'succeeded', undefined]]);
    expect(report.partitions[1]!.message).toContain('processPartition returned after 11 of the partition’s records without reading the rest');
    expect(report.totals.records).toBe(160);
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy([...files[0]!, ...files[2]!]));
    expect((await manifestRecords(new DirStore(output), 'early')).lines).toEqual(sortedCopy([...files[0]!, ...files[2]!]));
  });
});

describe('a crashed Lambda environment', () => {
  it('fails its partition alone, and its exit code is logged, labelled with the partition, where Lambda would log it', async () => {
    const files = [records('a', 20), records('b', 20, ['exit:3 '])];
    const logged: string[] = [];
    const { report, output } = await run(await inputDir(files), { runId: 'crash', parameters: { ToleratedFailurePercentage: '50' }, lambdaLog: (lines) => void logged.push(lines) }, 2);
    expect(rows(report)).toEqual([[0, 'succeeded', undefined], [1, 'failed', 'Runtime.ExitError']]);
    expect(report.partitions[1]!.message).toContain("locally the run's console, labelled with the partition");
    expect(logged.join('\n')).toContain('[WorkerFunction part-00001] Runtime.ExitError: The environment exited with code 3 before the handler returned.');
    expect((await manifestRecords(new DirStore(output), 'crash')).lines).toEqual(sortedCopy(files[0]!));
  });
});

describe('6. with ItemsPerBatch, a hanging partition fails alone: its finished batch-mates count once, the rest run again', () => {
  it('finished, hung and not-yet-started partitions of one batch each end on their own', async () => {
    const files = [records('a', 8), records('b', 8, ['', '', '', '', 'hang ']), records('c', 8), records('d', 8), records('e', 8)];
    const input = await inputDir(files);
    const invoked: string[] = [];
    const wrapInvoke = (invoke: Invoke): Invoke => (fn, event, taskTimeoutSeconds) => {
      invoked.push(`${fn.logicalId} ${taskTimeoutSeconds === fn.timeoutSeconds ? 'its Timeout' : taskTimeoutSeconds}`);
      return invoke(fn, event, taskTimeoutSeconds);
    };
    const parameters = { MapMode: 'DISTRIBUTED', ItemsPerBatch: '3', WorkerTimeout: '1', ToleratedFailurePercentage: '50' };
    const { report, output } = await run(input, { runId: 'batched', parameters, wrapInvoke }, 5);
    // Two batches, the first run three times (the hang, then its half's hang), each failure sorted out by RecoverBatch.
    expect(sortedCopy(invoked)).toEqual(sortedCopy([...Array(2).fill('PartitionerFunction its Timeout'), ...Array(4).fill('WorkerFunction its Timeout'), 'PartitionerFunction its Timeout', 'ReducerFunction its Timeout']));
    // Partition 1 is split in two after its timeout; the half with the hanging record times out again.
    const size = Buffer.byteLength(`${files[1]!.join('\n')}\n`);
    let offset = 0;
    const [firstHalf, secondHalf] = [[], []] as [string[], string[]];
    for (const line of files[1]!) {
      (offset < Math.floor(size / 2) ? firstHalf : secondHalf).push(line);
      offset += Buffer.byteLength(line) + 1;
    }
    expect(secondHalf[0]).toMatch(/^hang /);
    expect(rows(report)).toEqual([
      [0, 'succeeded', undefined],
      ['1/1', 'succeeded', undefined],
      ['1/2', 'failed', 'Sandbox.Timedout'],
      [2, 'succeeded', undefined],
      [3, 'succeeded', undefined],
      [4, 'succeeded', undefined],
    ]);
    const expected = [...files[0]!, ...firstHalf, ...files[2]!, ...files[3]!, ...files[4]!];
    expect(report.totals.records).toBe(expected.length);
    expect(await listedRecords(new DirStore(output))).toEqual(sortedCopy(expected));
    expect((await manifestRecords(new DirStore(output), 'batched')).lines).toEqual(sortedCopy(expected));
  });
});

async function keysAndIdentities(store: DirStore): Promise<{ key: string; identity?: string }[]> {
  const objects: { key: string; identity?: string }[] = [];
  for await (const object of store.list()) objects.push(object);
  return objects;
}
