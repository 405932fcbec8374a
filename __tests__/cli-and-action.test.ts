import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { runAction, runBundledAction } from './helpers/run-action.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { HELP, PLAN_HELP, RUN_HELP } from '../src/cli.ts';
import { ESBUILD_VERSION } from '../src/handler/load-esbuild.ts';
import { nodeVersionProblem } from '../src/node-version.ts';
import { SETTING_NAMES } from '../src/settings.ts';
import { cli } from './helpers/cli.ts';
import { startFaultProxy } from './helpers/fault-proxy.ts';
import { startLocalS3 } from './helpers/s3-server.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { tempDir } from './helpers/corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sample = path.join(root, 'examples/log-analytics/sample');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');

describe('the CLI', () => {
  it('documents every option in run --help, under the same names as the action inputs', async () => {
    const { code, out } = await cli(['--help']);
    expect([code, out]).toEqual([0, HELP]);
    const run = await cli(['run', '--help']);
    expect([run.code, run.out]).toEqual([0, RUN_HELP]);
    const action = parse(await readFile(path.join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> };
    expect(Object.keys(action.inputs).sort()).toEqual([...SETTING_NAMES].sort());
    for (const name of SETTING_NAMES) expect(RUN_HELP).toContain(`--${name} <`);
    // The report is written by both engines, so it is not listed under one.
    expect(RUN_HELP).toMatch(/Results \(both engines\):\n {2}--summary <file> .*\n {2}--report <file>/);
  });

  it('shows plan\'s own options for plan --help, and refuses a run option given to plan', async () => {
    const { code, out } = await cli(['plan', '--help']);
    expect([code, out]).toEqual([0, PLAN_HELP]);
    expect(PLAN_HELP).not.toContain('--handler');
    const wrong = await cli(['plan', '--input', sample, '--handler', exampleHandler, '--concurrency', '4']);
    expect([wrong.code, wrong.err]).toEqual([2, 'plan does not use --handler, --concurrency: it only lists the input and plans (see sfn-fanout plan --help).\nRun sfn-fanout --help for the options.\n']);
  });

  it('says in one line which Node.js it needs, exit 2, when started on an older one', async () => {
    expect(nodeVersionProblem('v20.20.2')).toBe('sfn-fanout needs Node.js 24 or later, and this is v20.20.2: run it as npx sfn-fanout after npm ci (which installs Node.js 24 for the project), or install Node.js 24.');
    expect(nodeVersionProblem('v24.0.0')).toBeUndefined();
    expect(nodeVersionProblem('v25.1.0')).toBeUndefined();
  });

  // The machine's own Node (20 here), not the project's Node 24 that runs the tests.
  const olderNode = ['/usr/bin/node', '/usr/local/bin/node'].find((file) => existsSync(file) && Number(execFileSync(file, ['-p', 'process.versions.node.split(".")[0]']).toString()) < 24);
  (olderNode === undefined ? it.skip : it)('dist/cli.js on the machine\'s older Node prints that line and nothing else', async () => {
    const result = await promisify(execFile)(olderNode!, [path.join(root, 'dist/cli.js'), 'run', '--input', sample]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    const version = execFileSync(olderNode!, ['--version']).toString().trim();
    expect(result).toEqual({ code: 2, stderr: `${nodeVersionProblem(version)!}\n` });
  });

  it('prints its version from package.json', async () => {
    const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, out: `sfn-fanout ${version} (Node.js ${process.version})\n`, err: '' });
  });

  it('runs the sample, prints the partition table and writes the summary and the report', async () => {
    const output = await tempDir();
    const { code, out } = await cli(['run', '--input', sample, '--output', output, '--handler', exampleHandler, '--partitions', '3', '--summary', path.join(output, 's.md'), '--report', path.join(output, 'r.json')]);
    expect(code).toBe(0);
    expect(out).toMatch(/^partition\s+status\s+bytes\s+read\s+handed\s+rejected\s+duration\n0\s+succeeded/);
    expect(out).toContain('SUCCEEDED: 3 partitions (3 succeeded, 0 failed), 15,438 records');
    expect(await readFile(path.join(output, 's.md'), 'utf8')).toContain('```mermaid');
    expect(JSON.parse(await readFile(path.join(output, 'r.json'), 'utf8'))).toMatchObject({ status: 'SUCCEEDED', totals: { records: 15438 } });
  });

  it('plans without reading data: in S3 the only object bytes read are the gzip object\'s 4-byte size trailer', async () => {
    const { code, out } = await cli(['plan', '--input', sample, '--partitions', '4']);
    expect(code).toBe(0);
    expect(out).toContain('5 objects, 1.6 MiB (~1.9 MiB uncompressed) in 4 partitions; max/mean 1.000 by uncompressed size');
    expect(out).toMatch(/^0 .* access-0004.ndjson.gz \[0, 39346\) {2}\(gzip: one object, read whole; ~488.4 KiB uncompressed\)$/m);

    const s3 = await startLocalS3(['plan-input']);
    const proxy = await startFaultProxy(s3.endpoint, []);
    try {
      const bucket = new S3Store(s3.client, 'plan-input', 'sample/');
      for (const name of await readdir(sample)) await bucket.write(name, await readFile(path.join(sample, name)));
      const fromS3 = await cli(['plan', '--input', 's3://plan-input/sample/', '--partitions', '4', '--s3-endpoint', proxy.endpoint]);
      expect([fromS3.code, fromS3.out]).toEqual([0, out]);
      const objectReads = proxy.requests.filter((request) => request.method === 'GET' && !request.url.includes('list-type='));
      expect(objectReads).toEqual([{ method: 'GET', url: expect.stringMatching(/^\/plan-input\/sample\/access-0004\.ndjson\.gz(\?|$)/), range: 'bytes=39342-39345', bytes: 4 }]);
    } finally {
      await proxy.stop();
      await s3.stop();
    }
  });

  it('takes a single file as input, and reads that file only', async () => {
    const [first] = (await readdir(sample)).sort();
    const lines = (await readFile(path.join(sample, first!), 'utf8')).split('\n').filter((line) => line !== '').length;
    const plan = await cli(['plan', '--input', path.join(sample, first!), '--partitions', '2']);
    expect(plan.out).toMatch(new RegExp(`^0 .* ${first!.replace('.', '\\.')} \\[0, \\d+\\)$`, 'm'));
    expect(plan.out).toContain('1 objects,');
    const output = await tempDir();
    const { code, out } = await cli(['run', '--input', path.join(sample, first!), '--output', output, '--handler', exampleHandler, '--partitions', '1', '--concurrency', '1']);
    expect(code).toBe(0);
    expect(out).toContain(`SUCCEEDED: 1 partition (1 succeeded, 0 failed), ${lines.toLocaleString('en-US')} records read`);
  });

  it.each([
    [['run', '--input', sample, '--output', '/tmp/x', '--handler', exampleHandler, '--partitions', '0'], 'partitions "0" must be a whole number from 1 to 10000.'],
    [['run', '--input', sample, '--output', '/tmp/x', '--handler', 'nope.ts'], 'handler "nope.ts" does not exist'],
    [['run', '--input', 'ftp://x/y', '--output', '/tmp/x', '--handler', exampleHandler], 'input "ftp://x/y" uses the unsupported scheme "ftp://"'],
    [['run', '--input', sample, '--output', '/tmp/x', '--handler', exampleHandler, '--engine', 'emr'], 'engine "emr" is not known: use local (this machine) or aws (a deployed stack).'],
    [['run', '--input', sample, '--output', '/tmp/x', '--handler', exampleHandler, '--max-concurrency', '10001'], 'max-concurrency "10001" must be a whole number from 0 to 10000.'],
    [['run', '--input', sample, '--output', '/tmp/x', '--handler', exampleHandler, '--s3-endpoint', 'localhost'], 's3-endpoint "localhost" is not a URL'],
    [['run', '--bogus', 'x'], "Unknown option '--bogus'"],
    [['deploy'], 'Unknown command "deploy": use run or plan.'],
    [['run', '--input', sample, '--output', 's3:/bucket/x', '--handler', exampleHandler], 'output "s3:/bucket/x" is not a URI: write s3://bucket/prefix with two slashes, or ./s3:/bucket/x for a local path with a colon in its name.'],
    [['run', '--input', 'S3:/bucket/x', '--output', '/tmp/x', '--handler', exampleHandler], 'input "S3:/bucket/x" is not a URI: write s3://bucket/prefix with two slashes'],
    [['run', '--input', '/nowhere/logs', '--output', '/tmp/x', '--handler', exampleHandler], 'input: directory /nowhere/logs does not exist: give the folder or file that holds the data'],
    [['plan', '--input', 'nowhere/logs'], `input: directory ${path.resolve('nowhere/logs')} does not exist`],
  ])('exits 2 with a clear error for %j', async (args, message) => {
    const { code, err } = await cli(args);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('exits 1 when the batch fails', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'a.ndjson'), 'not json\n');
    const { code, out } = await cli(['run', '--input', input, '--output', await tempDir(), '--handler', exampleHandler]);
    expect(code).toBe(1);
    expect(out).toContain('partition 0 failed: RejectedRecordsError: Partition 0 rejected 1 of 1 records');
  });
});

describe.each([
  ['the bundled action (dist/index.js)', 'dist/index.js'],
  // The same behaviour from the sources, so a stale bundle cannot hide a regression.
  ['the action from its sources (src/index.ts)', 'src/index.ts'],
])('%s, run the way the runner runs it', (_name, entry) => {
  it('reads INPUT_* variables, writes the job summary and sets every output', async () => {
    const output = await tempDir();
    const action = await runAction(entry, {
      engine: 'local',
      input: sample,
      output,
      handler: exampleHandler,
      format: 'ndjson',
      partitions: '4',
      'max-partitions': '1000',
      'max-rejected': '0',
      'tolerated-failure-percentage': '0',
    });
    expect(action.code).toBe(0);
    expect(action.summary).toContain('## ✅ sfn-fanout batch succeeded');
    expect(action.summary).toContain('```mermaid');
    const outputs = parseOutputFile(action.outputFile);
    expect(outputs).toMatchObject({ status: 'SUCCEEDED', partitions: '4', succeeded: '4', failed: '0', unfinished: '0', records: '15438', handed: '15438', rejected: '0', 'result-partial': 'false', 'result-truncated': 'false' });
    expect(JSON.parse(outputs.result!).requests).toBe(15438);
    expect(JSON.parse(await readFile(outputs['report-path']!, 'utf8')).runId).toBe(outputs['run-id']);
  });

  it('fails the step with the input error and writes no outputs when an input is wrong', async () => {
    const action = await runAction(entry, { input: sample, output: await tempDir(), handler: exampleHandler, partitions: 'many' });
    expect(action.code).toBe(1);
    expect(action.stdout).toContain('::error::partitions "many" must be a whole number from 1 to 10000.');
    expect(action.outputFile).toBe('');
  });

  it('caps the result output under GitHub’s 1 MB of outputs: valid JSON marked truncated, pointing at the report file, which has it whole', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'a.txt'), 'one line\n');
    const action = await runAction(entry, { engine: 'local', input, output: await tempDir(), handler: path.join(root, '__tests__/fixtures/big-result-handler.ts'), format: 'lines', partitions: '1', concurrency: '1' });
    expect(action.code).toBe(0);
    const outputs = parseOutputFile(action.outputFile);
    expect(Buffer.byteLength(action.outputFile)).toBeLessThan(1024 * 1024);
    expect(outputs['result-truncated']).toBe('true');
    expect(JSON.parse(outputs.result!)).toEqual({ truncated: true, reportPath: outputs['report-path'], message: expect.stringContaining('report-path') });
    const report = JSON.parse(await readFile(outputs['report-path']!, 'utf8')) as { result: Record<string, number> };
    expect(Object.keys(report.result)).toHaveLength(30_000);
    expect(report.result['key-029999']).toBe(29_999);
  });
});

describe('the bundled action (dist/index.js), as a workflow checks it out', () => {
  it('runs from a checkout of the action with no node_modules: esbuild is installed once with npm', async () => {
    // What `uses: sfn-fanout/sfn-fanout@main` checks out: the committed files, no node_modules.
    const checkout = await tempDir('action-checkout-');
    for (const item of ['dist', 'template', 'package.json']) await cp(path.join(root, item), path.join(checkout, item), { recursive: true });
    // A user's repository with the example handler, and no esbuild in it either.
    const project = await tempDir('user-repo-');
    for (const file of ['handler.ts', 'sketch.ts']) await cp(path.join(root, 'examples/log-analytics', file), path.join(project, file));
    // npm as the runner has it, installing from this machine's copy of the registry package.
    const bin = await tempDir('fake-npm-');
    const npmLog = path.join(bin, 'calls.txt');
    await writeFile(
      path.join(bin, 'npm'),
      `#!/bin/sh\necho "$@" >> ${npmLog}\nwhile [ "$1" != "--prefix" ]; do shift; done\nmkdir -p "$2/node_modules/@esbuild"\ncp -r ${root}/node_modules/esbuild "$2/node_modules/"\ncp -r ${root}/node_modules/@esbuild/${process.platform}-${process.arch} "$2/node_modules/@esbuild/"\n`,
      { mode: 0o755 },
    );
    const cache = await tempDir('cache-');
    const inputs = { input: sample, output: await tempDir(), handler: path.join(project, 'handler.ts'), partitions: '1', concurrency: '1' };
    const env = { PATH: `${bin}:${process.env.PATH}`, SFN_FANOUT_CACHE_DIR: cache };
    const first = await runBundledAction(inputs, env, checkout);
    expect([first.code, first.stdout]).toEqual([0, expect.any(String)]);
    expect(first.stdout).toContain(`esbuild is not installed here: installing esbuild@${ESBUILD_VERSION} into ${path.join(cache, `esbuild-${ESBUILD_VERSION}`)} (once).`);
    expect(parseOutputFile(first.outputFile)).toMatchObject({ status: 'SUCCEEDED', records: '15438' });
    const second = await runBundledAction({ ...inputs, output: await tempDir() }, env, checkout);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('from the cache');
    expect((await readFile(npmLog, 'utf8')).trim().split('\n')).toEqual([`install --prefix ${path.join(cache, `esbuild-${ESBUILD_VERSION}`)} --no-save --no-package-lock --no-audit --no-fund --loglevel=error esbuild@${ESBUILD_VERSION}`]);
  });
});

/** GITHUB_OUTPUT's `name<<delimiter` blocks. */
function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const match = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (match === null) continue;
    const value: string[] = [];
    for (i += 1; lines[i] !== match[2]; i += 1) value.push(lines[i]!);
    outputs[match[1]!] = value.join('\n');
  }
  return outputs;
}
