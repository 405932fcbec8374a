import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandlerModuleError } from '../src/errors.ts';
import { parseInputLocation } from '../src/location.ts';
import { checkTemplateParameters } from '../src/local/template-parameters.ts';
import { LOCAL_THREADS_PER_CORE, localConcurrency, prepareRun } from '../src/preflight.ts';
import { parseRunSettings } from '../src/settings.ts';
import { locationParameters } from '../src/store/bucket-names.ts';
import { cli } from './helpers/cli.ts';
import { tempDir } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const sample = path.join(root, 'examples/log-analytics/sample');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const template = path.join(root, 'template/sfn-fanout.yaml');

describe('inputs that can be checked before work are checked before work (exit 2, nothing run)', () => {
  it.each([
    [['--parameters', 'WorkerTimeout: 0'], `parameters: WorkerTimeout "0" is below the template's MinValue 1: give 1 to 900 (${template}).`],
    [['--parameters', '{"WorkerMemorySize": 20000}'], `parameters: WorkerMemorySize "20000" is above the template's MaxValue 10240: give 128 to 10240 (${template}).`],
    [['--parameters', 'WorkerMemorySize: lots'], `parameters: WorkerMemorySize "lots" must be a number (${template}).`],
    [['--parameters', 'MapMode: SIDEWAYS'], `parameters: MapMode "SIDEWAYS" must be one of INLINE, DISTRIBUTED (${template}).`],
    [['--parameters', 'LogRetentionInDays: 2'], 'parameters: LogRetentionInDays "2" must be one of 1, 3, 5, 7, 14, 30'],
    [['--parameters', 'WorkerTimeot: 60'], `parameters: WorkerTimeot is not a parameter of ${template} (it has ArtifactBucket, CodeKey, HandlerPath,`],
    [['--handler', path.join(here, 'fixtures/handler-throws-on-load.ts')], `Handler module ${path.join(here, 'fixtures/handler-throws-on-load.ts')} failed to load: database URL is not configured`],
    [['--handler', path.join(here, 'fixtures')], `Handler module ${path.join(here, 'fixtures')} is a directory: give the module file, like ${path.join(here, 'fixtures/handler.ts')}.`],
    [['--handler', path.join(here, 'fixtures/handler-exports-nothing.ts')], 'exports nothing usable: export a processRecord(state, record, context) or a processPartition(records, context) function (exports found: name)'],
  ])('%j', async (extra, message) => {
    const output = path.join(await tempDir(), 'out');
    const { code, err } = await cli(['run', '--input', sample, '--output', output, '--handler', exampleHandler, ...extra]);
    expect(code).toBe(2);
    expect(err).toContain(message);
    // Refused before planning: no map mode was chosen, nothing was written.
    expect(err).not.toContain('Map mode');
    expect(existsSync(output)).toBe(false);
  });

  it('never shows the value of a NoEcho or secret-sounding parameter it refuses', async () => {
    const file = path.join(await tempDir(), 'secret-template.yaml');
    await writeFile(file, 'Parameters:\n  DbPassword: { Type: String, AllowedPattern: "[a-z]+" }\n  Pin: { Type: Number, NoEcho: true, MaxValue: 9999 }\n');
    await expect(checkTemplateParameters(file, { DbPassword: 'Hunter2!' })).rejects.toThrow(`parameters: DbPassword (value hidden) does not match the template's AllowedPattern [a-z]+ (${file}).`);
    await expect(checkTemplateParameters(file, { Pin: '123456' })).rejects.toThrow(`parameters: Pin (value hidden) is above the template's MaxValue 9999 (${file}).`);
    await expect(checkTemplateParameters(file, { DbPassword: 'hunter', Pin: '1234' })).resolves.toBeUndefined();
  });

  it('refuses an output path that is a file, and a summary or report path that is a directory', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'results.txt');
    await writeFile(file, 'keep me\n');
    const base = ['run', '--input', sample, '--handler', exampleHandler];
    expect(await cli([...base, '--output', file])).toMatchObject({ code: 2, err: expect.stringContaining(`output: ${file} is a file: give a directory for the results (it is created when missing).`) });
    expect(await readFile(file, 'utf8')).toBe('keep me\n');
    expect(await cli([...base, '--output', path.join(dir, 'o'), '--summary', dir])).toMatchObject({ code: 2, err: expect.stringContaining(`summary: ${dir} is a directory: give a file name, like ${path.join(dir, 'summary.md')}.`) });
    expect(await cli([...base, '--output', path.join(dir, 'o'), '--report', dir])).toMatchObject({ code: 2, err: expect.stringContaining(`report: ${dir} is a directory: give a file name, like ${path.join(dir, 'report.json')}.`) });
    expect(existsSync(path.join(dir, 'o'))).toBe(false);
  });

  it('loads the handler in a thread, not in the CLI\'s process: what its top level starts (a timer, globals) stays out', async () => {
    const project = await tempDir();
    const handler = path.join(project, 'handler.ts');
    await writeFile(handler, 'setInterval(() => {}, 1000);\n(globalThis as Record<string, unknown>).sfnFanoutTopLevelRan = true;\nexport const nothing = 1;\n');
    const { code, err } = await cli(['run', '--input', sample, '--output', path.join(project, 'o'), '--handler', handler]);
    expect([code, err]).toEqual([2, expect.stringContaining('exports nothing usable')]);
    expect((globalThis as Record<string, unknown>).sfnFanoutTopLevelRan).toBeUndefined();
  });

  it('checks a handler for engine aws without running it: exports from the bundle, native addons against the architecture', async () => {
    const settings = (handler: string) =>
      parseRunSettings((name) => ({ input: 's3://logs-in/day/', output: 's3://results-out/day/', handler, engine: 'aws', region: 'eu-west-1', 'stack-name': 'fanout' })[name]);
    await expect(prepareRun(settings(path.join(here, 'fixtures/handler-exports-nothing.ts')), () => {})).rejects.toThrow(HandlerModuleError);
    // Its top level would throw here, without the function's environment: not run for engine aws.
    await expect(prepareRun(settings(path.join(here, 'fixtures/handler-throws-on-load.ts')), () => {})).rejects.toThrow('exports nothing usable');
    const prepared = await prepareRun(settings(exampleHandler), () => {});
    expect(prepared.bundle.exports).toEqual(['finish', 'init', 'merge', 'processRecord']);
  });

  it('caps --concurrency far above the cores and says so; MaxConcurrency never adds environments', async () => {
    const cores = availableParallelism();
    const cap = LOCAL_THREADS_PER_CORE * cores;
    expect(localConcurrency(1024, 2, 0)).toEqual({ size: 8, note: "concurrency 1024 is far above this machine's 2 cores: running 8 Lambda environments at once (4 per core; each is a thread with its own heap)." });
    expect(localConcurrency(2, 2, 10_000)).toEqual({ size: 2, note: 'MaxConcurrency 10000: the local engine runs at most 2 partitions at once (concurrency), the rest wait their turn.' });
    expect(localConcurrency(3, 2, 0)).toEqual({ size: 3 });

    const logs: string[] = [];
    const settings = parseRunSettings((name) => ({ input: sample, output: 'out/never', handler: exampleHandler, concurrency: '1024', 'max-concurrency': '10000' })[name]);
    // The pool the local engine starts is this size (runBatch hands it over); its queue holds the rest.
    expect((await prepareRun(settings, (line) => logs.push(line))).concurrency).toBe(cap);
    expect(logs).toContain(`concurrency 1024 is far above this machine's ${cores} cores: running ${cap} Lambda environments at once (4 per core; each is a thread with its own heap). MaxConcurrency 10000: the local engine runs at most ${cap} partitions at once (concurrency), the rest wait their turn.`);
  });
});

describe('a single file or object as the input', () => {
  it('is one object of its folder: keys stay relative, and IAM grants that key only', () => {
    expect(parseInputLocation('s3://logs-in/2026/app.csv')).toEqual({ kind: 's3', bucket: 'logs-in', prefix: '2026/', uri: 's3://logs-in/2026/app.csv', object: 'app.csv' });
    expect(parseInputLocation('s3://logs-in/app.ndjson.gz')).toMatchObject({ prefix: '', object: 'app.ndjson.gz' });
    // A folder unless it ends like a data file; a trailing / always makes it a folder.
    expect(parseInputLocation('s3://logs-in/2026/day-1')).toEqual({ kind: 's3', bucket: 'logs-in', prefix: '2026/day-1/', uri: 's3://logs-in/2026/day-1/' });
    expect(parseInputLocation('s3://logs-in/2026/app.csv/')).toMatchObject({ prefix: '2026/app.csv/' });
    expect(parseInputLocation(path.join(sample, 'access-0000.ndjson'))).toEqual({ kind: 'dir', path: sample, uri: path.join(sample, 'access-0000.ndjson'), object: 'access-0000.ndjson' });
    expect(parseInputLocation(sample)).toEqual({ kind: 'dir', path: sample, uri: sample });
    expect(locationParameters(parseInputLocation('s3://logs-in/2026/app.csv'), parseInputLocation('s3://out-bucket/r/'))).toEqual({ InputBucket: 'logs-in', InputPrefix: '2026/app.csv', OutputBucket: 'out-bucket', OutputPrefix: 'r/' });
  });

  describe('in S3 (s3rver)', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['single-input']);
    });
    afterAll(async () => s3.stop());

    it('reads that object only, not its neighbours with the same prefix, and refuses a missing one by name', async () => {
      const dir = await tempDir();
      await mkdir(path.join(dir, 'logs/app.ndjson'), { recursive: true });
      const record = '{"status":200,"level":"info","bytes":1,"latency_ms":2}\n';
      const objects: Record<string, string> = { 'logs/app.ndjson': record.repeat(7), 'logs/app.ndjson.bak': record.repeat(100), 'logs/app.ndjson/inner.ndjson': record.repeat(100) };
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      for (const [key, body] of Object.entries(objects)) await s3.client.send(new PutObjectCommand({ Bucket: 'single-input', Key: key, Body: body }));
      const output = await tempDir();
      const { code, out } = await cli(['run', '--input', 's3://single-input/logs/app.ndjson', '--output', output, '--handler', exampleHandler, '--s3-endpoint', s3.endpoint, '--region', 'us-east-1', '--concurrency', '1']);
      expect(code).toBe(0);
      expect(out).toContain('SUCCEEDED: 1 partition (1 succeeded, 0 failed), 7 records');
      const missing = await cli(['plan', '--input', 's3://single-input/logs/missing.csv', '--s3-endpoint', s3.endpoint, '--region', 'us-east-1']);
      expect(missing).toMatchObject({ code: 2, err: 'Cannot list s3://single-input/logs/missing.csv: no object has that key. End the URI with / if it is a folder.\n' });
    });
  });
});
