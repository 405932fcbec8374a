import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildCodePackage, codeKey, uploadIfAbsent } from '../src/aws/code-package.ts';
import { deterministicZip } from '../src/aws/zip.ts';
import { tempDir } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const run = promisify(execFile);

describe('packaging the code', () => {
  it('gives the same zip bytes and the same key for the same sources, twice in a row', async () => {
    const first = await buildCodePackage(exampleHandler);
    const second = await buildCodePackage(exampleHandler);
    expect(second.zip.equals(first.zip)).toBe(true);
    expect(codeKey(second)).toBe(codeKey(first));
    expect(codeKey(first)).toMatch(/^sfn-fanout\/code\/[0-9a-f]{64}\.zip$/);
  });

  it('holds the three bundled handlers and the handler with what it imports, and nothing else of its folder', async () => {
    const pkg = await buildCodePackage(exampleHandler);
    expect(pkg.files).toEqual(['handler/handler.ts', 'handler/sketch.ts', 'package.json', 'partitioner.js', 'reducer.js', 'worker.js']);
    expect(pkg.handlerEntry).toBe('handler/handler.ts');
  });

  it('writes an archive that unzip reads back byte for byte, with fixed times and permissions', async () => {
    const dir = await tempDir();
    const zip = deterministicZip([
      { name: 'b/ü.txt', data: Buffer.from('second\n') },
      { name: 'a.txt', data: Buffer.alloc(100_000, 'a') },
    ]);
    await writeFile(path.join(dir, 'x.zip'), zip);
    const test = await run('unzip', ['-t', path.join(dir, 'x.zip')]);
    expect(test.stdout).toContain('No errors detected');
    const listing = await run('zipinfo', [path.join(dir, 'x.zip')]);
    expect(listing.stdout).toMatch(/-rw-r--r--.*a\.txt/);
    expect(listing.stdout).toContain('80-Jan-01 00:00');
    const content = await run('unzip', ['-p', path.join(dir, 'x.zip'), 'b/ü.txt']);
    expect(content.stdout).toBe('second\n');
  });

  it('packages npm packages the handler imports, with their dependencies, and refuses files outside its folder', async () => {
    const project = await tempDir();
    const handlerDir = path.join(project, 'src');
    await mkdir(path.join(project, 'node_modules/left-pad'), { recursive: true });
    await mkdir(path.join(project, 'node_modules/@acme/strings'), { recursive: true });
    await mkdir(handlerDir, { recursive: true });
    await writeFile(path.join(project, 'node_modules/left-pad/package.json'), '{"name":"left-pad","main":"index.js"}');
    await writeFile(path.join(project, 'node_modules/left-pad/index.js'), 'module.exports = (s) => s;');
    await writeFile(path.join(project, 'node_modules/@acme/strings/package.json'), '{"name":"@acme/strings","dependencies":{"left-pad":"1"}}');
    await writeFile(path.join(project, 'node_modules/@acme/strings/index.js'), 'export const x = 1;');
    await writeFile(path.join(handlerDir, 'handler.js'), "import { x } from '@acme/strings/index.js';\nimport fs from 'node:fs';\nimport path from 'path';\nexport function processRecord() {}\n");
    const pkg = await buildCodePackage(path.join(handlerDir, 'handler.js'));
    expect(pkg.files.filter((f) => f.startsWith('handler/'))).toEqual([
      'handler/handler.js',
      'handler/node_modules/@acme/strings/index.js',
      'handler/node_modules/@acme/strings/package.json',
      'handler/node_modules/left-pad/index.js',
      'handler/node_modules/left-pad/package.json',
    ]);
    await writeFile(path.join(handlerDir, 'bad.js'), "import { y } from '../shared/util.js';\nexport function processRecord() {}\n");
    await expect(buildCodePackage(path.join(handlerDir, 'bad.js'))).rejects.toThrow("outside its folder");
    await writeFile(path.join(handlerDir, 'missing.js'), "import chalk from 'chalk';\nexport function processRecord() {}\n");
    await expect(buildCodePackage(path.join(handlerDir, 'missing.js'))).rejects.toThrow('The handler imports "chalk", which is not installed: run npm install chalk');
  });

  describe('uploading to the artifact bucket (s3rver on loopback)', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['sfn-fanout-artifacts']);
    });
    afterAll(async () => s3.stop());

    it('uploads once under the content-hash key and skips the upload when the key exists', async () => {
      const pkg = await buildCodePackage(exampleHandler);
      expect(await uploadIfAbsent(s3.client, 'sfn-fanout-artifacts', codeKey(pkg), pkg.zip)).toBe(true);
      const again = await buildCodePackage(exampleHandler);
      expect(await uploadIfAbsent(s3.client, 'sfn-fanout-artifacts', codeKey(again), again.zip)).toBe(false);
    });

    it('says what permission is missing when the bucket cannot be checked', async () => {
      await expect(uploadIfAbsent(s3.client, 'no-such-artifacts', 'k.zip', Buffer.from('x'))).rejects.toThrow('Cannot upload s3://no-such-artifacts/k.zip');
    });
  });
});
