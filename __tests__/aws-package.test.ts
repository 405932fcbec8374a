import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildCodePackage, codeKey, uploadIfAbsent } from '../src/aws/code-package.ts';
import { deterministicZip } from '../src/aws/zip.ts';
import { bundleHandler } from '../src/handler/bundle.ts';
import { tempDir } from './helpers/corpus.ts';
import { startLocalS3, type LocalS3 } from './helpers/s3-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exampleHandler = path.join(root, 'examples/log-analytics/handler.ts');
const run = promisify(execFile);

describe('packaging the code', () => {
  const pack = async () => buildCodePackage(await bundleHandler(exampleHandler), { architecture: 'arm64' });

  it('gives the same zip bytes and the same key for the same sources, twice in a row', async () => {
    const first = await pack();
    const second = await pack();
    expect(second.zip.equals(first.zip)).toBe(true);
    expect(codeKey(second)).toBe(codeKey(first));
    expect(codeKey(first)).toMatch(/^sfn-fanout\/code\/[0-9a-f]{64}\.zip$/);
  });

  it('holds the three bundled handlers and the handler bundle with its source map, and nothing else', async () => {
    const pkg = await pack();
    expect(pkg.files).toEqual(['handler/handler.mjs', 'handler/handler.mjs.map', 'package.json', 'partitioner.js', 'reducer.js', 'worker.js']);
    expect(pkg.handlerEntry).toBe('handler/handler.mjs');
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

  describe('uploading to the artifact bucket (s3rver on loopback)', () => {
    let s3: LocalS3;
    beforeAll(async () => {
      s3 = await startLocalS3(['sfn-fanout-artifacts']);
    });
    afterAll(async () => s3.stop());

    it('uploads once under the content-hash key and skips the upload when the key exists', async () => {
      const pkg = await pack();
      expect(await uploadIfAbsent(s3.client, 'sfn-fanout-artifacts', codeKey(pkg), pkg.zip)).toBe(true);
      const again = await pack();
      expect(await uploadIfAbsent(s3.client, 'sfn-fanout-artifacts', codeKey(again), again.zip)).toBe(false);
    });

    it('says what permission is missing when the bucket cannot be checked', async () => {
      await expect(uploadIfAbsent(s3.client, 'no-such-artifacts', 'k.zip', Buffer.from('x'))).rejects.toThrow('Cannot upload s3://no-such-artifacts/k.zip');
    });
  });
});
