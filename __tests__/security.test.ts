import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../src/errors.ts';
import { parseJob } from '../src/job.ts';
import { runLocal, type LocalRunOptions } from '../src/local/local-engine.ts';
import { outcomeKey } from '../src/partition/commit.ts';
import { planPartitions } from '../src/plan/partition-plan.ts';
import { escapeHtml, escapeMarkdown } from '../src/report/markdown.ts';
import { Redactor } from '../src/secrets.ts';
import { parseRunSettings } from '../src/settings.ts';
import { S3_TIMEOUTS } from '../src/store/open-store.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { DirStore } from '../src/store/dir-store.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { tempDir } from './helpers/corpus.ts';
import { runBundledAction } from './helpers/run-action.ts';
import { startCli } from './helpers/run-cli.ts';
import { startLocalS3 } from './helpers/s3-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostile = path.join(here, 'fixtures/hostile-handler.ts');

/** What a runner's environment holds; every one must stay out of everything the run writes. */
const SECRETS = {
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEFAKE//SESSION+TOKEN==',
  GITHUB_TOKEN: 'ghs_16C7e42F292c6912E7710c838347Ae178B4a',
  ACTIONS_RUNTIME_TOKEN: 'eyJ0eXAiOiJKV1QiFAKE.runtime-token',
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'idtokenrequestFAKE0123456789',
};
/** A template parameter named like a secret: masked, so it must be redacted too. */
const PARAMETER_SECRET = 'tok-sensitive-987';
/** A GitHub token nobody registered, found only in the data: redacted by its shape. */
const DATA_TOKEN = 'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const ALL = { ...SECRETS, PARAMETER_SECRET, DATA_TOKEN };

/** Each secret as written, escaped as we escape text, and a slice of its middle that survives any escaping or truncation. */
function needles(): [string, string][] {
  return Object.entries(ALL).flatMap(([name, value]) =>
    [...new Set([value, escapeMarkdown(value), escapeHtml(value), JSON.stringify(value).slice(1, -1), value.slice(4, 14)])].map((needle): [string, string] => [name, needle]),
  );
}

/** Every file under the given directories, as text. */
async function writtenFiles(...roots: string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.set(full, await readFile(full, 'utf8'));
    }
  };
  for (const root of roots) await walk(root);
  return files;
}

/** Which secrets (by name) each text holds, in any form; empty when none leaked. */
function leaks(texts: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [where, text] of texts) {
    for (const [name, needle] of needles()) if (text.includes(needle)) found.push(`${name} in ${where}`);
  }
  return [...new Set(found)];
}

/** Files of equal size, so each is one partition. */
async function inputOf(files: string[][]): Promise<string> {
  const dir = await tempDir();
  const bodies = files.map((lines) => lines.join('\n'));
  const width = Math.max(...bodies.map((body) => body.length)) + 1;
  for (const [index, body] of bodies.entries()) await writeFile(path.join(dir, `f${index}.txt`), `${body}\n${'#'.repeat(width - body.length)}\n`);
  return dir;
}

describe('secrets stay in: a handler that throws every secret it can reach', () => {
  it('leaves none in the output, the rejected records, the batch file, the report, the summary, the console or the action outputs', async () => {
    const input = await inputOf([
      ['ok 1', `leak ${SECRETS.GITHUB_TOKEN} ${DATA_TOKEN}`, 'ok 2'],
      ['ok 3', 'fail now', 'ok 4'],
    ]);
    const [cliOutput, cliWork, actionOutput] = [await tempDir(), await tempDir(), await tempDir()];
    // Parameters are checked against the template's declarations: this one declares the secret one.
    const template = path.join(cliWork, 'with-secret.yaml');
    const bundled = await readFile(path.join(here, '../template/sfn-fanout.yaml'), 'utf8');
    await writeFile(template, bundled.replace('\nParameters:\n', '\nParameters:\n  ApiToken:\n    Type: String\n    NoEcho: true\n    Default: ""\n'));
    const options = { format: 'lines', partitions: '2', 'max-rejected': '5', 'tolerated-failure-percentage': '50', template, parameters: `{"ApiToken": "${PARAMETER_SECRET}"}` };
    const cli = startCli(
      ['run', '--input', input, '--output', cliOutput, '--handler', hostile, ...Object.entries(options).flatMap(([name, value]) => [`--${name}`, value]), '--summary', path.join(cliWork, 'summary.md'), '--report', path.join(cliWork, 'report.json')],
      SECRETS,
    );
    const [ran, action] = await Promise.all([cli.exited, runBundledAction({ input, output: actionOutput, handler: hostile, ...options }, SECRETS)]);

    // The handler did leak: a rejected record and a failed partition, each with every secret in its message.
    expect([ran.code, action.code]).toEqual([0, 0]);
    const report = JSON.parse(await readFile(path.join(cliWork, 'report.json'), 'utf8')) as { partitions: { status: string; rejected?: number; message?: string }[] };
    expect(report.partitions.map((row) => [row.status, row.rejected])).toEqual([['succeeded', 1], ['failed', undefined]]);
    expect(report.partitions[1]!.message).toMatch(/^partition failed with .*AWS_SECRET_ACCESS_KEY=\*\*\* .*\{"ApiToken": "\*\*\*"\}$/);
    const rejected = await readFile(path.join(cliOutput, 'rejected/part-00000.jsonl'), 'utf8');
    expect(rejected).toContain('"message":"cannot parse leak *** ***: AWS_ACCESS_KEY_ID=***');
    expect(rejected).toContain('"line":"\\"leak *** ***\\""');

    const texts = await writtenFiles(cliOutput, cliWork, actionOutput, action.work);
    expect([...texts.keys()].filter((file) => file.includes('_sfn-fanout/runs/') && file.endsWith('batch.json'))).toHaveLength(2);
    texts.set('CLI stdout', ran.stdout);
    texts.set('CLI stderr', ran.stderr);
    // The runner takes `::add-mask::` lines out of the log; they are how a value gets masked.
    texts.set('action stdout', action.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::')).join('\n'));
    texts.set('action stderr', action.stderr);
    expect(leaks(texts)).toEqual([]);
  });
});

describe('symbolic links in an input directory', () => {
  it('refuses a link to a file outside the input, naming it, and reads nothing through it', async () => {
    const outside = await tempDir();
    await writeFile(path.join(outside, 'credentials'), `[default]\naws_access_key_id = ${SECRETS.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${SECRETS.AWS_SECRET_ACCESS_KEY}\n`);
    const input = await tempDir();
    await writeFile(path.join(input, 'a.ndjson'), '{"n":1}\n');
    await symlink(path.join(outside, 'credentials'), path.join(input, 'creds.ndjson'));
    const [output, work] = [await tempDir(), await tempDir()];
    const ran = await startCli(['run', '--input', input, '--output', output, '--handler', hostile, '--max-rejected', '100', '--report', path.join(work, 'report.json'), '--summary', path.join(work, 'summary.md')], {}).exited;
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(`input: ${path.join(input, 'creds.ndjson')} is a symbolic link to ${path.join(outside, 'credentials')}, outside the input directory`);
    const texts = await writtenFiles(output, work);
    texts.set('CLI stdout', ran.stdout);
    texts.set('CLI stderr', ran.stderr);
    expect(leaks(texts)).toEqual([]);
  });
});

describe('symbolic links and special files in an input directory, listed', () => {
  async function keys(dir: string): Promise<string[]> {
    const found: string[] = [];
    for await (const object of new DirStore(dir).list()) found.push(object.key);
    return found;
  }

  it('follows a link that stays inside the input, to a file or a folder', async () => {
    const input = await tempDir();
    await mkdir(path.join(input, 'day-1'));
    await writeFile(path.join(input, 'day-1/a.txt'), 'a\n');
    await symlink(path.join(input, 'day-1/a.txt'), path.join(input, 'latest.txt'));
    await symlink('day-1', path.join(input, 'today'));
    expect(await keys(input)).toEqual(['day-1/a.txt', 'latest.txt', 'today/a.txt']);
  });

  it.each([
    ['a loop of links', async (dir: string) => (await symlink('b', path.join(dir, 'a')), await symlink('a', path.join(dir, 'b'))), (dir: string) => `input: ${path.join(dir, 'a')} is a symbolic link loop. Remove the link or fix its target.`],
    ['a dangling link', async (dir: string) => symlink('gone.txt', path.join(dir, 'x.txt')), (dir: string) => `input: ${path.join(dir, 'x.txt')} is a symbolic link to ${path.join(dir, 'gone.txt')}, which does not exist. Remove the link or fix its target.`],
    ['a link back to a folder that holds it', async (dir: string) => (await mkdir(path.join(dir, 'sub')), await symlink('..', path.join(dir, 'sub/up'))), (dir: string) => `input: ${path.join(dir, 'sub/up')} is a symbolic link back to ${dir}, which holds it: a loop. Remove the link.`],
    ['a FIFO, which would never end', async (dir: string) => void execFileSync('mkfifo', [path.join(dir, 'pipe.txt')]), (dir: string) => `input: ${path.join(dir, 'pipe.txt')} is not a regular file (a FIFO, socket or device): move it out of the input directory.`],
  ])('refuses %s, naming it', async (_name, make, message) => {
    const input = await realpath(await tempDir());
    await writeFile(path.join(input, 'ok.txt'), 'ok\n');
    await make(input);
    await expect(keys(input)).rejects.toThrow(StoreError);
    await expect(keys(input)).rejects.toThrow(message(input));
  });
});

/** An S3 endpoint that hangs: it accepts every connection and never answers. */
async function unresponsiveEndpoint(): Promise<{ endpoint: string; connected: Promise<void>; close: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  let connected!: () => void;
  const firstConnection = new Promise<void>((resolve) => (connected = resolve));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connected: firstConnection,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('hangs and signals: the first SIGTERM stops the CLI in every phase and it still writes its report', () => {
  it('listing an unresponsive S3, reading from it in a Lambda thread, a handler that spins, a merge that never returns', async () => {
    const spinning = await inputOf([['ok'], ['spin forever']]);
    const merging = await inputOf([['ok'], ['hang in merge']]);
    const [listing, reading] = [await unresponsiveEndpoint(), await unresponsiveEndpoint()];
    // Each is signalled once it is surely in its phase: waiting on S3, or past the progress line that starts it.
    const phases: { name: string; args: string[]; inPhase: (cli: ReturnType<typeof startCli>) => Promise<void> }[] = [
      { name: 'planning', args: ['--input', 's3://hang-bucket/in/', '--s3-endpoint', listing.endpoint, '--partitions', '2'], inPhase: () => listing.connected },
      { name: 'partitioner', args: ['--input', spinning, '--output', 's3://hang-bucket/out/', '--s3-endpoint', reading.endpoint, '--map-mode', 'inline'], inPhase: () => reading.connected },
      { name: 'worker', args: ['--input', spinning, '--partitions', '2'], inPhase: (cli) => cli.waitForStderr('partitions 0/2 done', 30_000) },
      { name: 'reducer', args: ['--input', merging, '--partitions', '2'], inPhase: (cli) => cli.waitForStderr('partitions 2/2 done', 30_000) },
    ];
    try {
      const results = await Promise.all(
        phases.map(async ({ name, args, inPhase }) => {
          const work = await tempDir();
          const output = args.includes('--output') ? [] : ['--output', path.join(work, 'out')];
          const cli = startCli(['run', '--format', 'lines', '--handler', hostile, ...output, ...args, '--report', path.join(work, 'report.json'), '--summary', path.join(work, 'summary.md')], SECRETS);
          await inPhase(cli);
          await new Promise((resolve) => setTimeout(resolve, 1000));
          cli.kill('SIGTERM');
          const killer = setTimeout(() => cli.kill('SIGKILL'), 15_000);
          const ran = await cli.exited;
          clearTimeout(killer);
          const texts = await writtenFiles(work);
          const report = texts.get(path.join(work, 'report.json'));
          return {
            name,
            exit: ran.code,
            within10s: ran.afterMs < 10_000,
            report: report === undefined ? 'no report' : (JSON.parse(report) as { status: string; error?: { name: string; message: string } }),
            summary: texts.get(path.join(work, 'summary.md'))?.split('\n')[0],
            leaks: leaks(new Map([...texts, ['stdout', ran.stdout], ['stderr', ran.stderr]])),
          };
        }),
      );
      const cancelled = { status: 'FAILED', error: { name: 'ExecutionAborted', message: 'The run was cancelled by SIGTERM.' } };
      expect(results).toEqual(phases.map(({ name }) => ({ name, exit: 143, within10s: true, report: expect.objectContaining(cancelled), summary: '## ❌ sfn-fanout batch failed', leaks: [] })));
    } finally {
      await Promise.all([listing.close(), reading.close()]);
    }
  });
});

describe('the environment a local Lambda sees', () => {
  const envHandler = path.join(here, 'fixtures/env-handler.ts');
  const lambdaNames = ['AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_REGION', 'LANG', 'NODE_OPTIONS', 'PATH', 'SFN_FANOUT_HANDLER', '_HANDLER'];
  const saved = { ...process.env };
  beforeEach(() => Object.assign(process.env, SECRETS, { RUNNER_SETTING: 'runner-only', MY_SETTING: 'passed on purpose' }));
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) Reflect.deleteProperty(process.env, name);
    Object.assign(process.env, saved);
  });

  async function workerEnv(input: string, output: string, options: Partial<LocalRunOptions> = {}): Promise<Record<string, string>> {
    const report = await runLocal({ job: parseJob({ input, output, format: 'lines', partitions: 1 }), handler: envHandler, concurrency: 1, ...options });
    expect(report.status).toBe('SUCCEEDED');
    return (report.result as { env: Record<string, string> }).env;
  }

  it('is what Lambda gives the function (its template variables, AWS_REGION, the AWS_LAMBDA_* variables) and what pass-env names; none of the runner’s', async () => {
    const env = await workerEnv(await inputOf([['a']]), await tempDir(), { s3: { region: 'eu-west-1' }, environment: { MY_SETTING: 'passed on purpose' } });
    expect(Object.keys(env).sort()).toEqual([...lambdaNames, 'MY_SETTING'].sort());
    expect(env).toMatchObject({
      AWS_REGION: 'eu-west-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_LAMBDA_FUNCTION_NAME: 'sfn-fanout-local-WorkerFunction',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      _HANDLER: 'worker.handler',
      NODE_OPTIONS: '--enable-source-maps',
      // The handler runs as its bundle, the same file the AWS engine zips.
      SFN_FANOUT_HANDLER: expect.stringMatching(/\/(bundles|sfn-fanout-bundles-[^/]+)\/[0-9a-f]{64}\/handler\.mjs$/),
      MY_SETTING: 'passed on purpose',
    });
    expect(env.AWS_LAMBDA_LOG_STREAM_NAME).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
  });

  it('gets credentials only when the run uses S3: this process’s, as a Lambda gets its role’s', async () => {
    // s3rver knows only its own documented keys.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    delete process.env.AWS_SESSION_TOKEN;
    const s3 = await startLocalS3(['env-bucket']);
    try {
      await new S3Store(s3.client, 'env-bucket', 'in/').write('a.txt', 'a\n');
      const env = await workerEnv('s3://env-bucket/in/', await tempDir(), { s3: { endpoint: s3.endpoint, region: 'us-east-1' } });
      expect(Object.keys(env).sort()).toEqual([...lambdaNames, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'SFN_FANOUT_S3_ENDPOINT'].sort());
      // Resolved once from this process's chain: they read the input (s3rver takes no other keys);
      // the result the handler returned has them redacted.
      expect(env).toMatchObject({ AWS_ACCESS_KEY_ID: '***', AWS_SECRET_ACCESS_KEY: '***', SFN_FANOUT_S3_ENDPOINT: s3.endpoint });
    } finally {
      await s3.stop();
    }
  });

  it('pass-env takes variable names, not Lambda’s own, and only for engine local', () => {
    const read = (values: Record<string, string>) => (name: string) => ({ input: here, output: 'out', handler: envHandler, ...values })[name];
    expect(parseRunSettings(read({ 'pass-env': 'MY_SETTING, OTHER\nTHIRD' })).passEnv).toEqual(['MY_SETTING', 'OTHER', 'THIRD']);
    expect(() => parseRunSettings(read({ 'pass-env': 'MY-SETTING' }))).toThrow('pass-env "MY-SETTING" is not a variable name');
    expect(() => parseRunSettings(read({ 'pass-env': 'AWS_REGION' }))).toThrow('pass-env names AWS_REGION, which the local engine sets itself as Lambda does');
    expect(() => parseRunSettings(read({ 'pass-env': 'MY_SETTING', engine: 'aws', region: 'us-east-1', 'stack-name': 's' }))).toThrow('pass-env is for engine local');
  });
});

describe('redaction', () => {
  const redactor = new Redactor(Object.values(SECRETS));

  const special = new Redactor(['pa"ss<word>&1_x']);
  it.each([
    ['as written', special, 'x=pa"ss<word>&1_x;', 'x=***;'],
    ['Markdown-escaped', special, escapeMarkdown('x=pa"ss<word>&1_x'), 'x=***'],
    ['HTML-escaped', special, escapeHtml('<pa"ss<word>&1_x>'), '&lt;***&gt;'],
    ['JSON-escaped, once and twice', special, JSON.stringify(JSON.stringify({ k: 'pa"ss<word>&1_x' })), '"{\\"k\\":\\"***\\"}"'],
    ['a GitHub token, by its shape', redactor, `see ${DATA_TOKEN}.`, 'see ***.'],
    ['a GitHub token, Markdown-escaped', redactor, escapeMarkdown(`see ${DATA_TOKEN}`), 'see ***'],
    ['a fine-grained GitHub token', redactor, 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu', '***'],
    ['an AWS access key id', redactor, 'key ASIAXXXXXXXXXXXXXXXX used', 'key *** used'],
    ['a registered token, Markdown-escaped', redactor, escapeMarkdown(`token=${SECRETS.GITHUB_TOKEN}`), 'token=***'],
  ])('finds a secret %s', (_form, using, text, expected) => {
    expect(using.redact(text)).toBe(expected);
  });

  it('keeps short values, and `__proto__` keys as keys, in a redacted value', () => {
    const value = JSON.parse(`{"__proto__": {"${SECRETS.GITHUB_TOKEN}": 1}, "n": [true, "${SECRETS.ACTIONS_RUNTIME_TOKEN} and 42"]}`) as object;
    const redacted = new Redactor(['42', ...Object.values(SECRETS)]).redactDeep(value);
    expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
    expect(JSON.stringify(redacted)).toBe('{"__proto__":{"***":1},"n":[true,"*** and 42"]}');
  });

  it('the worker in AWS redacts its own environment’s credentials from what it throws and writes', async () => {
    Object.assign(process.env, { AWS_SECRET_ACCESS_KEY: 'lambda-role-secret-Wk9XQ', AWS_SESSION_TOKEN: 'lambda-role-session-7Fq2', SFN_FANOUT_HANDLER: hostile });
    try {
      const { handler } = await import('../lambdas/worker.ts');
      const input = await inputOf([['ok', 'leak now']]);
      const output = await tempDir();
      const job = parseJob({ input, output, format: 'lines', partitions: 1, maxRejected: 1 });
      const plan = planPartitions([{ key: 'f0.txt', size: (await readFile(path.join(input, 'f0.txt'))).length }], { sizing: { partitions: 1 }, maxPartitions: 1 });
      await handler({ job, runId: 'run-1', item: plan.partitions[0]! });
      // A partition that fails comes back by its error's name; the worker writes the whole error as the attempt's outcome.
      const failing = (await handler({ job: { ...job, maxRejected: { count: 0 } }, runId: 'run-2', item: plan.partitions[0]! })) as { status: string; error: string; attempt: string };
      expect(failing).toMatchObject({ status: 'failed', error: 'RejectedRecordsError' });
      const failure = JSON.parse(await readFile(path.join(output, outcomeKey('run-2', { id: 0, attempt: failing.attempt })), 'utf8')) as { cause: string };
      expect((JSON.parse(failure.cause) as { errorMessage: string }).errorMessage).toMatch(/^Partition 0 rejected 1 of 3 records.*AWS_SECRET_ACCESS_KEY=\*\*\* AWS_SESSION_TOKEN=\*\*\*/);
      const written = await writtenFiles(output);
      // The worker stages its rejected records under its attempt; the reducer commits them.
      const staged = [...written].filter(([file]) => file.includes(`${path.sep}run-1${path.sep}attempts${path.sep}`) && file.endsWith('.rejected.jsonl'));
      expect(staged).toHaveLength(1);
      expect(staged[0]![1]).toContain('AWS_SECRET_ACCESS_KEY=*** AWS_SESSION_TOKEN=***');
      expect([...written.values()].filter((text) => /lambda-role-(secret|session)/.test(text))).toEqual([]);
    } finally {
      delete process.env.SFN_FANOUT_HANDLER;
    }
  });
});

describe('S3 requests end', () => {
  beforeAll(() => {
    process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  });

  it('on a connection that never answers, after the client’s timeouts (every client has them)', async () => {
    const { endpoint, close } = await unresponsiveEndpoint();
    const client = createS3Client({ endpoint, region: 'us-east-1' }, { timeouts: { connectionTimeoutMs: 500, socketTimeoutMs: 300, requestTimeoutMs: 1000 } });
    try {
      const started = Date.now();
      await expect(client.send(new ListObjectsV2Command({ Bucket: 'b' }))).rejects.toMatchObject({ name: 'TimeoutError' });
      // The SDK retried it (three attempts) and gave up, well before anyone would wonder.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(S3_TIMEOUTS).toEqual({ connectionTimeoutMs: 5000, socketTimeoutMs: 30_000, requestTimeoutMs: 300_000 });
      const defaults = createS3Client({ endpoint, region: 'us-east-1' });
      await expect(defaults.send(new ListObjectsV2Command({ Bucket: 'b' }), { abortSignal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'AbortError' });
      expect((defaults.config.requestHandler as unknown as { httpHandlerConfigs(): object }).httpHandlerConfigs()).toMatchObject({ connectionTimeout: 5000, socketTimeout: 30_000, requestTimeout: 300_000, throwOnRequestTimeout: true });
      defaults.destroy();
    } finally {
      client.destroy();
      await close();
    }
  });

  it('at once, in flight or to come, when the run is cancelled', async () => {
    const { endpoint, close } = await unresponsiveEndpoint();
    const controller = new AbortController();
    const client = createS3Client({ endpoint, region: 'us-east-1' }, { signal: controller.signal });
    try {
      const started = Date.now();
      const listing = client.send(new ListObjectsV2Command({ Bucket: 'b' }));
      setTimeout(() => controller.abort('SIGTERM'), 300);
      await expect(listing).rejects.toMatchObject({ name: 'AbortError' });
      await expect(client.send(new ListObjectsV2Command({ Bucket: 'b' }))).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      client.destroy();
      await close();
    }
  });
});
