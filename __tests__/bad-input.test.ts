import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.ts';
import { FanoutError, HandlerModuleError, InputError, StoreError } from '../src/errors.ts';
import { checkHandler, loadHandler } from '../src/handler/load-handler.ts';
import { parseJob } from '../src/job.ts';
import { parseLocation } from '../src/location.ts';
import { AttemptOutput, newAttemptId } from '../src/partition/attempt-output.ts';
import { runPartition } from '../src/partition/run-partition.ts';
import { planPartitions } from '../src/plan/partition-plan.ts';
import { partitionStep } from '../src/steps/steps.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { collectingHandler, tempDir, tempDirStore } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const noS3 = { s3: () => { throw new Error('no S3 in this test'); } };

describe('bad input gets an error that names the input and the fix', () => {
  it('names each error as the source does, also where the bundler renamed its class (errors_HandlerModuleError in dist/)', () => {
    // What ncc makes of a class whose name another bundled module uses too.
    const renamed = { errors_HandlerModuleError: class extends HandlerModuleError {}, lambda_error_LambdaFunctionError: class extends FanoutError {} };
    expect([new renamed.errors_HandlerModuleError('x').name, new renamed.lambda_error_LambdaFunctionError('x').name, new InputError('x').name]).toEqual(['HandlerModuleError', 'LambdaFunctionError', 'InputError']);
  });

  it.each([
    ['', 'input is empty: give an S3 URI like s3://my-bucket/logs/ or a local directory path.'],
    ['gs://bucket/x', 'input "gs://bucket/x" uses the unsupported scheme "gs://": use s3://bucket/prefix or a local directory path.'],
    ['s3://', 'input "s3://" does not name a valid S3 bucket ("")'],
    ['s3://My_Bucket/logs', 'input "s3://My_Bucket/logs" does not name a valid S3 bucket ("My_Bucket")'],
    ['s3://ab/logs', 'does not name a valid S3 bucket ("ab")'],
  ])('location %j', (uri, message) => {
    expect(() => parseLocation(uri, 'input')).toThrow(InputError);
    expect(() => parseLocation(uri, 'input')).toThrow(message);
  });

  it('reads a prefix as a folder, so day-1 never picks up day-10', () => {
    expect(parseLocation('s3://logs-bucket/2026/day-1', 'input')).toEqual({ kind: 's3', bucket: 'logs-bucket', prefix: '2026/day-1/', uri: 's3://logs-bucket/2026/day-1/' });
    expect(parseLocation('s3://logs-bucket', 'input')).toMatchObject({ prefix: '' });
    expect(parseLocation('file:///tmp/x', 'input')).toEqual({ kind: 'dir', path: '/tmp/x', uri: '/tmp/x' });
  });

  it.each([
    [{ output: './o' }, 'input is required: give the data to process'],
    [{ input: './i' }, 'output is required: give where results go'],
    [{ input: './i', output: './o', format: 'xml' }, 'format "xml" is not supported: use one of lines, ndjson, csv.'],
    [{ input: './i', output: './o', partitions: '0' }, 'partitions "0" must be a whole number from 1 to 10000.'],
    [{ input: './i', output: './o', partitions: -3 }, 'partitions "-3" must be a whole number from 1 to 10000.'],
    [{ input: './i', output: './o', partitions: '2.5' }, 'partitions "2.5" must be a whole number from 1 to 10000.'],
    [{ input: './i', output: './o', partitions: 4, partitionSize: '1MiB' }, 'partitions and partition-size are both set: give one'],
    [{ input: './i', output: './o', partitions: 50, maxPartitions: 10 }, 'partitions is 50 but max-partitions is 10'],
    [{ input: './i', output: './o', partitionSize: 'huge' }, 'partition-size "huge" is not a size: give a positive number of bytes, or one with a unit like 64MiB'],
    [{ input: './i', output: './o', partitionSize: '0' }, 'partition-size "0" is not a size'],
    [{ input: './i', output: './o', maxRejected: 'some' }, 'max-rejected "some" is not a limit'],
    [{ input: './i', output: './o', maxRejected: '120%' }, 'max-rejected "120%" is not a limit'],
    [{ input: 42, output: './o', format: ['csv'] }, 'format must be text, not object.'],
  ])('job %j', (request, message) => {
    expect(() => parseJob(request)).toThrow(InputError);
    expect(() => parseJob(request)).toThrow(message);
  });

  it('fills in defaults for a minimal job', () => {
    expect(parseJob({ input: './in', output: 's3://out-bucket/r' })).toEqual({
      input: './in',
      output: 's3://out-bucket/r',
      format: 'ndjson',
      sizing: { partitionBytes: 64 * 1024 * 1024 },
      maxPartitions: 1000,
      maxRejected: { count: 0 },
      allowEmpty: false,
    });
    expect(parseJob({ input: './in', output: './o', partitionSize: '1.5 KiB', maxRejected: '0.5%' })).toMatchObject({
      sizing: { partitionBytes: 1536 },
      maxRejected: { percent: 0.5 },
    });
  });

  it('says a missing directory does not exist', async () => {
    const missing = path.join(await tempDir(), 'nope');
    const listing = async () => {
      for await (const _ of new DirStore(missing).list()) void _;
    };
    await expect(listing()).rejects.toThrow(StoreError);
    await expect(listing()).rejects.toThrow(`Directory ${missing} cannot be read (ENOENT): check the path exists.`);
  });

  describe('against S3', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['present-bucket']);
    });
    afterAll(async () => s3.stop());

    it('says a missing bucket does not exist', async () => {
      const listing = async () => {
        for await (const _ of new S3Store(s3.client, 'absent-bucket', 'logs/').list()) void _;
      };
      await expect(listing()).rejects.toThrow('Cannot list s3://absent-bucket/logs/: bucket "absent-bucket" does not exist: create it or fix the URI (NoSuchBucket).');
    });

    it('refuses an empty prefix by name, and plans it as an empty batch with allow-empty', async () => {
      const event = { request: { input: 's3://present-bucket/nothing-here/', output: await tempDir() }, runId: 'run-1', settings: { maxConcurrency: '4', toleratedFailurePercentage: '10' } };
      const refused = partitionStep(event, { s3: async () => s3.client });
      await expect(refused).rejects.toThrow(InputError);
      await expect(partitionStep(event, { s3: async () => s3.client })).rejects.toThrow(
        'input s3://present-bucket/nothing-here/ is empty: there is no object under it. Check the path (a date in the prefix?), or set allow-empty to true when an empty batch is expected.',
      );
      const output = await partitionStep({ ...event, request: { ...event.request, allowEmpty: 'true' } }, { s3: async () => s3.client });
      expect(output).toMatchObject({ plan: { objects: 0, bytes: 0, partitions: 0 }, partitions: [], maxConcurrency: 4, toleratedFailurePercentage: 10 });
    });

    it('refuses an object whose key ends in "/" but holds data, by name; skips an empty folder marker', async () => {
      const store = new S3Store(s3.client, 'present-bucket', 'marked/');
      await store.write('day-1/', '');
      await store.write('day-1/a.txt', 'a\n');
      const keys = async (): Promise<string[]> => {
        const found: string[] = [];
        for await (const object of store.list()) found.push(object.key);
        return found;
      };
      expect(await keys()).toEqual(['day-1/a.txt']);
      await store.write('day-2/', 'data that looks like a folder\n');
      await expect(keys()).rejects.toThrow(
        's3://present-bucket/marked/day-2/ holds 30 bytes, but its key ends in "/" as a folder marker\'s does: sfn-fanout does not read it as data, and will not skip it silently.',
      );
    });
  });

  it('rejects a run id that is not an execution name', async () => {
    const input = await tempDir();
    await expect(partitionStep({ request: { input, output: await tempDir() }, runId: '../../etc' }, noS3)).rejects.toThrow(
      'runId "../../etc" is not an execution name: pass $$.Execution.Name',
    );
  });

  it('rejects deploy-time settings that are not numbers', async () => {
    const input = await tempDir();
    await expect(partitionStep({ request: { input, output: await tempDir() }, runId: 'run-1', settings: { maxConcurrency: 'lots' } }, noS3)).rejects.toThrow(
      'MaxConcurrency "lots" must be a whole number',
    );
  });

  it.each([
    ['fixtures/handler-exports-nothing.ts', 'exports nothing usable: export a processRecord(state, record, context) or a processPartition(records, context) function (exports found: name)'],
    ['fixtures/handler-throws-on-load.ts', 'failed to load: database URL is not configured'],
    ['fixtures/no-such-handler.ts', 'does not exist: check the handler path'],
  ])('handler module %s', async (file, message) => {
    const load = loadHandler(path.join(here, file));
    await expect(load).rejects.toThrow(HandlerModuleError);
    await expect(loadHandler(path.join(here, file))).rejects.toThrow(message);
  });

  it('rejects a handler that exports both styles, or a non-function', () => {
    const both = { processRecord() {}, processPartition: async () => null };
    expect(() => checkHandler(both, 'h.js')).toThrow('exports both processRecord and processPartition: export one of them.');
    expect(() => checkHandler({ processRecord() {}, merge: 3 }, 'h.js')).toThrow('exports "merge" but it is a number, not a function.');
  });
});

describe('a corrupt gzip object is named, with where it goes wrong', () => {
  const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `record ${i} ${(i * 7919) % 104_729}`).join('\n') + '\n');
  const gz = gzipSync(text);

  async function readWhole(body: Buffer): Promise<unknown> {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'logs.gz'), body);
    const source = new DirStore(dir);
    const plan = planPartitions([{ key: 'logs.gz', size: body.length }], { sizing: { partitions: 1 }, maxPartitions: 1 });
    return runPartition({ partition: plan.partitions[0]!, format: 'lines', maxRejected: { count: 0 }, source, output: new AttemptOutput(await tempDirStore(), { runId: 'gzip-run', partition: { id: 0 }, attempt: newAttemptId() }), handler: collectingHandler() }).then(
      () => 'read',
      (error: Error) => ({ type: error.constructor.name, message: error.message.replace(dir, '<dir>') }),
    );
  }

  it('a truncated one: the object, and the byte where it ends', async () => {
    const half = Math.floor(gz.length / 2);
    expect(await readWhole(gz.subarray(0, half))).toEqual({
      type: 'DataError',
      message: expect.stringMatching(new RegExp(`^<dir>/logs\\.gz ends before its gzip stream does \\(truncated\\?\\) near byte ${half} of the compressed object, after \\d+ bytes of text\\. Re-create or re-upload it`)),
    });
  });

  it('one that is not gzip at all, and one damaged in the middle: the object, and the byte where decompression failed (at or after the damage)', async () => {
    expect(await readWhole(Buffer.from('plain text, not gzip\n'))).toEqual({ type: 'DataError', message: expect.stringContaining('<dir>/logs.gz is not valid gzip (incorrect header check) near byte 0 of the compressed object, after 0 bytes of text.') });
    const damaged = Buffer.from(gz);
    const at = Math.floor(gz.length * 0.6);
    for (let i = at; i < at + 64; i += 1) damaged[i] = damaged[i]! ^ 0xff;
    const failure = (await readWhole(damaged)) as { type: string; message: string };
    expect(failure.type).toBe('DataError');
    const near = Number(/near byte (\d+) of the compressed object/.exec(failure.message)?.[1]);
    expect(failure.message).toMatch(/^<dir>\/logs\.gz is not valid gzip \(.+\) near byte \d+ of the compressed object, after \d+ bytes of text\./);
    // Deflate notices damage where it breaks the stream, or at the checksum: never before it.
    expect(near).toBeGreaterThanOrEqual(at - 16 * 1024);
    expect(near).toBeLessThanOrEqual(gz.length);
  });
});

describe('an empty input', () => {
  async function cli(args: string[]) {
    let out = '';
    let err = '';
    const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t), tty: false });
    return { code, out, err };
  }

  it('is refused with exit 2, saying it is empty; with allow-empty it succeeds with a warning', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'empty.ndjson'), '');
    const args = ['run', '--input', input, '--output', await tempDir(), '--handler', path.join(here, 'fixtures/echo-handler.ts')];
    const refused = await cli(args);
    expect(refused).toMatchObject({ code: 2, out: '' });
    // The handler is bundled first (one log line); the refusal is the last line.
    expect(refused.err.split('\n').at(-2)).toBe(`input ${input} is empty: its 1 objects are all empty. Check the path (a date in the prefix?), or set allow-empty to true when an empty batch is expected.`);
    const allowed = await cli([...args, '--allow-empty', 'true']);
    expect(allowed.code).toBe(0);
    expect(allowed.err).toContain(`warning: input ${input} is empty; allow-empty is set, so the batch succeeded with nothing to do.\n`);
    expect(allowed.out).toContain('SUCCEEDED: 0 partitions');
  });
});
