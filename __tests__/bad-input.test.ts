import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandlerModuleError, InputError, StoreError } from '../src/errors.ts';
import { checkHandler, loadHandler } from '../src/handler/load-handler.ts';
import { parseJob } from '../src/job.ts';
import { parseLocation } from '../src/location.ts';
import { partitionStep } from '../src/steps/steps.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { tempDir } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const noS3 = { s3: () => { throw new Error('no S3 in this test'); } };

describe('bad input gets an error that names the input and the fix', () => {
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

    it('plans an empty prefix as a valid empty plan, not a crash', async () => {
      const output = await partitionStep(
        { request: { input: 's3://present-bucket/nothing-here/', output: await tempDir() }, runId: 'run-1', settings: { maxConcurrency: '4', toleratedFailurePercentage: '10' } },
        { s3: () => s3.client },
      );
      expect(output).toMatchObject({ plan: { objects: 0, bytes: 0, partitions: 0 }, partitions: [], maxConcurrency: 4, toleratedFailurePercentage: 10 });
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
