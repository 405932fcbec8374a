import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../src/errors.ts';
import { privateDirectory } from '../src/handler/bundle-cache.ts';
import { parseJob } from '../src/job.ts';
import { defaultTemplatePath } from '../src/local/template-definition.ts';
import { checkTemplateParameters } from '../src/local/template-parameters.ts';
import { escapeHtml, escapeMarkdown } from '../src/report/markdown.ts';
import { planJob } from '../src/steps/steps.ts';
import { Redactor, environmentSecrets, isSecretName, possibleSecrets } from '../src/secrets.ts';
import { parseRunSettings } from '../src/settings.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { S3Store } from '../src/store/s3-store.ts';
import { tempDir } from './helpers/corpus.ts';
import { startCli } from './helpers/run-cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const noisy = path.join(here, 'fixtures/noisy-handler.ts');
const handler = path.join(root, 'examples/log-analytics/handler.ts');

/** Whether a process still runs (a zombie runs nothing). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Settings from the given options over a minimal valid run. */
function settingsOf(options: Record<string, string>): ReturnType<typeof parseRunSettings> {
  const all: Record<string, string> = { input: 'examples/log-analytics/sample', output: 'out/x', handler, ...options };
  return parseRunSettings((name) => all[name]);
}

describe('what a handler prints', () => {
  it('reaches the console redacted, labelled with its function and partition, with no escape sequence or workflow command; its child processes end with the run; its thread is handed no secret', async () => {
    const input = await tempDir();
    for (const name of ['a', 'b']) await writeFile(path.join(input, `${name}.txt`), `${name}1\n${name}2\n`);
    const work = await tempDir();
    const pidFile = path.join(work, 'pids');
    const env = { DB_PASS: 'hunter2-correct-horse', GITHUB_TOKEN: 'ghs_16C7e42F292c6912E7710c838347Ae178B4a', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', PID_FILE: pidFile };
    const cli = startCli(['run', '--input', input, '--output', path.join(work, 'out'), '--handler', noisy, '--format', 'lines', '--partitions', '2', '--pass-env', 'DB_PASS,PID_FILE', '--report', path.join(work, 'report.json')], env);
    const ran = await cli.exited;
    expect([ran.code, ran.stderr]).toEqual([0, expect.any(String)]);
    const console = `${ran.stdout}\n${ran.stderr}`;
    // It did print, every line labelled; the secret in it is ***.
    expect(ran.stderr).toContain('[HandlerCheck request 0] loading with DB_PASS=undefined');
    expect(ran.stderr).toContain('[WorkerFunction part-00000] record a1 DB_PASS=***');
    expect(ran.stderr).toContain('[WorkerFunction part-00001] ::add-mask::status DB_PASS=***');
    expect(ran.stderr).toContain('[WorkerFunction part-00001] ]0;owned[31mred[0mover');
    for (const secret of Object.values(env).slice(0, 3)) expect(console).not.toContain(secret);
    // eslint-disable-next-line no-control-regex -- the point
    expect(console).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F]/);
    expect(console.split('\n').filter((line) => line.trimStart().startsWith('::'))).toEqual([]);
    // The thread got no workerData at all: no list of the runner's secrets to read.
    const report = JSON.parse(await readFile(path.join(work, 'report.json'), 'utf8')) as { result: unknown };
    expect(JSON.stringify(report.result)).not.toContain('secret');
    expect(JSON.stringify(report.result)).toContain('"workerData":null');
    // Each partition started a `sleep 300` it never reaped: gone with the run.
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    expect(pids.filter(running)).toEqual([]);
  });
});

describe('secrets known by name, by NoEcho, in URLs', () => {
  it.each([
    ['STRIPE_KEY', true],
    ['SigningKey', true],
    ['DB_PASS', true],
    ['MYSQL_PWD', true],
    ['NPM_AUTH', true],
    ['SENTRY_DSN', true],
    ['HMAC_SALT', true],
    ['AUTH_HEADER', true],
    ['SSH_KEY', true],
    ['GOOGLE_APPLICATION_CREDENTIALS', true],
    ['SlackWebhookUrl', true],
    ['PWD', false],
    ['KEY_PREFIX', false],
    ['WorkerMemorySize', false],
    ['PASSENGER_COUNT', false],
    ['AUTHOR', false],
  ])('%s is a secret’s name: %s', (name, secret) => {
    expect(isSecretName(name)).toBe(secret);
  });

  it('takes a URL’s password from any variable, as written and decoded', () => {
    expect(environmentSecrets({ DATABASE_URL: 'postgres://app:p%40ss-w0rd@db:5432/x', HOME: '/home/u', HTTPS_PROXY: 'http://u:proxy-secret@proxy:3128' })).toEqual(['p%40ss-w0rd', 'p@ss-w0rd', 'proxy-secret', 'proxy-secret']);
  });

  it('treats a NoEcho parameter as a secret, whatever its name', async () => {
    const template = path.join(await tempDir(), 'noecho.yaml');
    const bundled = await readFile(path.join(root, 'template/sfn-fanout.yaml'), 'utf8');
    await writeFile(template, bundled.replace('\nParameters:\n', '\nParameters:\n  Target:\n    Type: String\n    NoEcho: "True"\n    Default: ""\n'));
    const settings = settingsOf({ template, parameters: '{"Target": "plain-looking-value", "WorkerMemorySize": "2048"}' });
    expect(possibleSecrets(settings, {})).toEqual(['plain-looking-value']);
  });

  it('an S3 endpoint’s password: redacted as written and decoded, never given on, never echoed', () => {
    const settings = settingsOf({ 's3-endpoint': 'http://minio:p%40ss%2Fw0rd-Secret1@127.0.0.1:4599' });
    expect(settings.s3.endpoint).toBe('http://127.0.0.1:4599');
    const redactor = new Redactor(possibleSecrets(settings, {}));
    expect(redactor.redact('at http://minio:p%40ss%2Fw0rd-Secret1@127.0.0.1 and p@ss/w0rd-Secret1')).toBe('at http://minio:***@127.0.0.1 and ***');
    for (const endpoint of ['minio:Pw0rdSecret99@127.0.0.1:4599', 'http://minio:Pw%ZZSecret99@127.0.0.1:4599', 'ftp://minio:Pw0rdSecret99@127.0.0.1:4599']) {
      let error: unknown;
      try {
        settingsOf({ 's3-endpoint': endpoint });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(/^s3-endpoint ".*\*\*\*@127\.0\.0\.1:4599" is not/);
      expect((error as Error).message).not.toContain('Secret99');
    }
  });

  it('finds a secret URL-encoded, and a token shape glued to a word', () => {
    const redactor = new Redactor(['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']);
    expect(redactor.redact('?key=wJalrXUtnFEMI%2FK7MDENG%2FbPxRfiCYEXAMPLEKEY&x=1')).toBe('?key=***&x=1');
    expect(redactor.redact('Bearerghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 tok_github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu')).toBe('Bearer*** tok_***');
  });
});

describe('an S3 response that trickles', () => {
  beforeAll(() => {
    process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  });

  it('ends at the request’s deadline, headers and body, in a listing and in a read, and is not resumed', async () => {
    // Headers at once, then a byte of body every 100 ms: never 300 ms of silence, never an end.
    const requests: string[] = [];
    const server = http.createServer((request, response) => {
      requests.push(request.method!);
      response.writeHead(200, { 'content-type': 'application/xml', 'content-length': '100000' });
      const timer = setInterval(() => response.write(' '), 100);
      response.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createS3Client({ endpoint, region: 'us-east-1' }, { timeouts: { connectionTimeoutMs: 500, socketTimeoutMs: 300, requestTimeoutMs: 1000 }, requestDeadlineMs: 800 });
    try {
      const store = new S3Store(client, 'b', 'in/');
      let started = Date.now();
      await expect(store.list()[Symbol.asyncIterator]().next()).rejects.toThrow(/^Cannot list s3:\/\/b\/in\/: S3 did not send the whole response within 0.8 s/);
      expect(Date.now() - started).toBeLessThan(2500);
      started = Date.now();
      const read = (async () => {
        for await (const chunk of store.read('batch.json')) void chunk;
      })();
      await expect(read).rejects.toThrow(/^Cannot read s3:\/\/b\/in\/batch.json: S3 did not send the whole response within 0.8 s.*\(RequestDeadlineError\)/);
      expect(Date.now() - started).toBeLessThan(2500);
      // One request each: neither the SDK nor the reader asked again.
      expect(requests).toEqual(['GET', 'GET']);
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('started by npm, whose process alone is signalled', () => {
  it('stops the run once npm has exited, writes its report and exits 129 (a hang-up), instead of running on as an orphan', async () => {
    const input = await tempDir();
    await writeFile(path.join(input, 'a.txt'), 'spin:600000\n');
    const work = await tempDir();
    const report = path.join(work, 'report.json');
    const cli = ['node', path.join(root, 'dist/cli.js'), 'run', '--input', input, '--output', path.join(work, 'out'), '--handler', path.join(here, 'fixtures/behaviour-handler.ts'), '--format', 'lines', '--report', report].map((arg) => `'${arg}'`).join(' ');
    // As `npm exec` runs a bin: npm, then `sh -c`, then node. `; true` keeps each shell from exec'ing its command.
    const npm = spawn('sh', ['-c', `sh -c "${cli.replace(/"/g, '\\"')}; echo exit=\\$? >&2"; true`], { env: { PATH: process.env.PATH ?? '', npm_command: 'exec' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    npm.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    npm.stdout.resume();
    // The CLI and the shell under it hold the pipes: they close when both are gone.
    const closed = new Promise<void>((resolve) => npm.stderr.on('close', resolve));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('partitions 0/1 done') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stderr).toContain('partitions 0/1 done');
    const killedAt = Date.now();
    npm.kill('SIGKILL');
    await closed;
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(stderr).toMatch(/The npm process that started sfn-fanout \(pid \d+\) has exited\.\nSIGHUP: stopping the run/);
    expect(stderr).toContain('exit=129');
    const written = JSON.parse(await readFile(report, 'utf8')) as { status: string; error?: { message: string } };
    expect([written.status, written.error?.message]).toEqual(['FAILED', 'The run was cancelled by SIGHUP.']);
  });
});

describe('checked before work, refused by name', () => {
  it.each([
    ['WorkerTimeout', '5.5'],
    ['MaxConcurrency', '2.5'],
    ['WorkerMemorySize', '2048.5'],
    ['ItemsPerBatch', '1.5'],
  ])('%s %s: the Lambda or Map setting it becomes takes whole numbers', async (name, value) => {
    await expect(checkTemplateParameters(defaultTemplatePath(), { [name]: value })).rejects.toThrow(`parameters: ${name} "${value}" must be a whole number`);
  });

  it('takes a decimal where the setting does', async () => {
    await expect(checkTemplateParameters(defaultTemplatePath(), { ToleratedFailurePercentage: '12.5', WorkerTimeout: '60' })).resolves.toBeUndefined();
  });

  it('a summary, report or output under a file', async () => {
    const file = path.join(await tempDir(), 'plain-file');
    await writeFile(file, 'x');
    for (const name of ['summary', 'report', 'output']) {
      expect(() => settingsOf({ [name]: path.join(file, 'sub', 'x.md') })).toThrow(`${name}: ${path.join(file, 'sub', 'x.md')} cannot be created: ${file} is a file, not a directory.`);
    }
  });

  it('says why an S3 key without a data file extension is not read as an object', async () => {
    const client = { send: async () => ({ Contents: [], IsTruncated: false }) } as unknown as S3Client;
    const job = parseJob({ input: 's3://inb/odd/dir.v2/data', output: await tempDir(), format: 'lines', partitions: 1 });
    await expect(planJob(job, { s3: async () => client })).rejects.toThrow(
      'input s3://inb/odd/dir.v2/data is empty: there is no object under it (read as the folder s3://inb/odd/dir.v2/data/: an S3 key is read as one object only when its name ends in a data file extension such as .jsonl, .csv or .gz).',
    );
  });

  it('a bundle cache in the shared temporary directory that is a link, or writable by others', async () => {
    const dir = path.join(await tempDir(), 'cache');
    expect(privateDirectory(dir)).toBe(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    chmodSync(dir, 0o777);
    expect(() => privateDirectory(dir)).toThrow(/^The bundle cache .* mode 777: another user could choose the code a run executes/);
    const link = path.join(path.dirname(dir), 'link');
    symlinkSync(dir, link);
    expect(() => privateDirectory(link)).toThrow(/is not a directory/);
  });
});

describe('text from the data in a summary', () => {
  it('keeps no control or direction-override character', () => {
    expect(escapeMarkdown('evil\u202Etxt.exe\u001b[2J\u2066x')).toBe('eviltxt.exe\\[2Jx');
    expect(escapeHtml('a\u200Fb\rc\nd')).toBe('abc\nd');
  });
});
