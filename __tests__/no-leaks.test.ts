import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { possibleSecrets } from '../src/secrets.ts';
import { parseRunSettings } from '../src/settings.ts';
import { tempDir } from './helpers/corpus.ts';
import { runBundledAction } from './helpers/run-action.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECRETS = {
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE1234',
  AWS_SECRET_ACCESS_KEY: 'fakeSecretAccessKey/abc+123',
  AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEFAKESESSIONTOKEN',
  GITHUB_TOKEN: 'ghs_fakeGitHubToken0123456789',
  ACTIONS_RUNTIME_TOKEN: 'fake-runtime-token-xyz',
};

describe('no secret reaches the log, the summary or the outputs', () => {
  it('when the action runs with credentials in its environment and a secret template parameter', async () => {
    // A template with a secret parameter (parameters are checked against the template's declarations).
    const template = path.join(await tempDir(), 'with-secret.yaml');
    const bundled = await readFile(path.join(root, 'template/sfn-fanout.yaml'), 'utf8');
    await writeFile(template, bundled.replace('\nParameters:\n', '\nParameters:\n  ApiToken:\n    Type: String\n    NoEcho: true\n    Default: ""\n'));
    const action = await runBundledAction(
      {
        input: path.join(root, 'examples/log-analytics/sample'),
        output: await tempDir(),
        handler: path.join(root, 'examples/log-analytics/handler.ts'),
        partitions: '2',
        template,
        parameters: '{"ApiToken": "tok-sensitive-987", "WorkerMemorySize": "2048"}',
      },
      SECRETS,
    );
    expect(action.code).toBe(0);
    expect(action.stdout).toContain('::add-mask::tok-sensitive-987');
    expect(action.stdout).not.toContain('::add-mask::2048');
    const everything = [action.stdout, action.stderr, action.summary, action.outputFile].join('\n');
    for (const [name, value] of Object.entries(SECRETS)) {
      expect([name, everything.includes(value)]).toEqual([name, false]);
      expect([name, everything.includes(name)]).toEqual([name, false]);
    }
  });

  it('masks secret-sounding parameters and tags, and a password in an S3 endpoint', () => {
    const settings = parseRunSettings(
      (name) =>
        ({
          input: 'examples/log-analytics/sample',
          output: 'out/x',
          handler: path.join(root, 'examples/log-analytics/handler.ts'),
          parameters: 'DbPassword: hunter2\nApiKey: k-1\nWorkerMemorySize: 3008',
          's3-endpoint': 'http://minio:s3cr%40t@127.0.0.1:9000',
        })[name],
    );
    expect(possibleSecrets(settings)).toEqual(['hunter2', 'k-1', 's3cr%40t', 's3cr@t']);
  });
});
