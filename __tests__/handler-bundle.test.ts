import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildCodePackage, codeKey } from '../src/aws/code-package.ts';
import { HandlerModuleError } from '../src/errors.ts';
import { bundleHandler } from '../src/handler/bundle.ts';
import { parseJob } from '../src/job.ts';
import { checkHandlerLoads } from '../src/local/check-handler.ts';
import { runLocal } from '../src/local/local-engine.ts';
import { outcomeKey } from '../src/partition/commit.ts';
import { cli } from './helpers/cli.ts';
import { tempDir } from './helpers/corpus.ts';
import { LEVELS, PROJECT_HANDLERS, writeHandlerProject } from './helpers/handler-project.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

/** Unzips a code package and calls `<module>.handler` in a separate Node process, as Lambda's runtime does. */
async function invokeFromZip(zip: Buffer, handler: string, event: unknown): Promise<unknown> {
  const task = await tempDir('lambda-task-');
  await writeFile(path.join(task, 'code.zip'), zip);
  await run('unzip', ['-q', path.join(task, 'code.zip'), '-d', path.join(task, 'root')]);
  const { stdout } = await run(process.execPath, [path.join(here, 'helpers/lambda-runtime.mjs'), path.join(task, 'root'), handler, JSON.stringify(event)], {
    // What the template gives the functions, and nothing of this machine's environment.
    env: { PATH: process.env.PATH, LAMBDA_TASK_ROOT: path.join(task, 'root'), SFN_FANOUT_HANDLER: 'handler/handler.mjs', NODE_OPTIONS: '--enable-source-maps', AWS_REGION: 'us-east-1' },
  });
  return JSON.parse(stdout);
}

describe('one bundle for both engines: the handlers users write', () => {
  let project: string;
  beforeAll(async () => {
    project = await writeHandlerProject();
  });

  it.each(Object.entries(PROJECT_HANDLERS))('%s: runs locally and from its code zip in a plain Node process, with the same result', async (_feature, { file, expected }) => {
    const bundle = await bundleHandler(path.join(project, file));
    const output = await tempDir();
    // The local engine runs this very bundle (its file in the cache) in its worker threads.
    const local = await runLocal({ job: parseJob({ input: path.join(project, 'input'), output, format: 'lines', partitions: 1 }), handler: bundle.source, bundle, concurrency: 1 });
    expect([local.status, local.result]).toEqual(['SUCCEEDED', expected]);

    const pkg = await buildCodePackage(bundle, { architecture: 'arm64' });
    expect(pkg.files).toEqual(['handler/handler.mjs', 'handler/handler.mjs.map', 'package.json', 'partitioner.js', 'reducer.js', 'worker.js']);

    const zipOutput = await tempDir();
    const job = parseJob({ input: path.join(project, 'input'), output: zipOutput, format: 'lines', partitions: 1 });
    const bytes = Buffer.byteLength(`${LEVELS.join('\n')}\n`);
    const partition = { id: 0, bytes, segments: [{ key: 'levels.txt', start: 0, end: bytes }] };
    const summary = await invokeFromZip(pkg.zip, 'worker.handler', { job, runId: 'zip-run', item: partition });
    expect(summary).toMatchObject({ id: 0, status: 'succeeded', records: LEVELS.length });
    // The worker stages its outcome under its attempt; the reducer would commit it.
    const detail = JSON.parse(await readFile(path.join(zipOutput, outcomeKey('zip-run', { id: 0, attempt: (summary as { attempt: string }).attempt })), 'utf8')) as { result: unknown; rejected: number };
    expect(detail.rejected).toBe(0);
    expect(detail.result).toEqual(expected);
  });

  it('bundles npm packages and tree-shakes them: no node_modules in the zip, unused exports left out', async () => {
    const bundle = await bundleHandler(path.join(project, 'handlers/parameter-properties.ts'));
    const code = bundle.files.get('handler.mjs')!.toString('utf8');
    expect(code).toContain("s + \"!\"");
    expect(code).not.toContain('TREE-SHAKEN-AWAY');
    expect(code).toContain('//# sourceMappingURL=handler.mjs.map');
    const map = JSON.parse(bundle.files.get('handler.mjs.map')!.toString('utf8')) as { sources: string[] };
    // Source paths are relative to the project, so the bundle does not depend on where it is.
    expect(map.sources).toEqual(['node_modules/shapes/index.js', 'handlers/parameter-properties.ts']);
  });

  it('gives the same bundle, zip bytes and key from a fresh cache and from a copy of the project elsewhere', async () => {
    const handler = 'handlers/cjs-dependency.ts';
    const first = await bundleHandler(path.join(project, handler), { cacheRoot: await tempDir() });
    const moved = await writeHandlerProject(path.join(await tempDir(), 'somewhere', 'else'));
    const second = await bundleHandler(path.join(moved, handler), { cacheRoot: await tempDir() });
    expect([first.cached, second.cached]).toEqual([false, false]);
    expect(second.sha256).toBe(first.sha256);
    const a = await buildCodePackage(first, { architecture: 'arm64' });
    const b = await buildCodePackage(second, { architecture: 'arm64' });
    expect(b.zip.equals(a.zip)).toBe(true);
    expect(codeKey(b)).toBe(codeKey(a));
  });
});

describe('the bundle cache', () => {
  it('reuses a bundle until a source, a dependency or a config file above them changes', async () => {
    const project = await writeHandlerProject();
    const cacheRoot = await tempDir();
    const handler = path.join(project, 'handlers/cjs-dependency.ts');
    const build = () => bundleHandler(handler, { cacheRoot });
    const first = await build();
    const again = await build();
    expect([first.cached, again.cached, again.sha256, again.file]).toEqual([false, true, first.sha256, first.file]);

    await writeFile(handler, `${await readFile(handler, 'utf8')}\nexport const version = 2;\n`);
    const edited = await build();
    expect([edited.cached, edited.sha256 === first.sha256]).toEqual([false, false]);
    expect(edited.exports).toContain('version');

    const dependency = path.join(project, 'node_modules/legacy-pad/lib/pad.js');
    await writeFile(dependency, (await readFile(dependency, 'utf8')).replace('"%s"', '"%s "'));
    const upgraded = await build();
    expect([upgraded.cached, upgraded.sha256 === edited.sha256]).toEqual([false, false]);
    expect((await build()).cached).toBe(true);

    // A tsconfig.json where there was none can change how TypeScript compiles.
    await writeFile(path.join(project, 'tsconfig.json'), '{"compilerOptions": {"useDefineForClassFields": false}}\n');
    expect((await build()).cached).toBe(false);
    expect((await build()).cached).toBe(true);
  });

  it('builds again when a cached bundle was changed by hand', async () => {
    const project = await writeHandlerProject();
    const cacheRoot = await tempDir();
    const handler = path.join(project, 'handlers/enum.ts');
    const first = await bundleHandler(handler, { cacheRoot });
    await writeFile(first.file, 'export const tampered = true;\n');
    const second = await bundleHandler(handler, { cacheRoot });
    expect(second.cached).toBe(false);
    expect(second.files.get('handler.mjs')!.toString('utf8')).toContain('2 /* High */');
    // The fresh build replaces the entry: it is what the local engine loads, and what the zip holds.
    expect(second.file).toBe(first.file);
    expect(await readFile(second.file)).toEqual(second.files.get('handler.mjs'));
    await writeFile(second.file, (await readFile(second.file)).subarray(0, 100));
    const third = await bundleHandler(handler, { cacheRoot });
    expect([third.cached, await readFile(third.file, 'utf8')]).toEqual([false, first.files.get('handler.mjs')!.toString('utf8')]);
    expect((await bundleHandler(handler, { cacheRoot })).cached).toBe(true);
  });

  it('keeps bundles where Node finds no package the zip lacks: a package required at run time fails locally as in Lambda', async () => {
    const project = await writeHandlerProject();
    await mkdir(path.join(project, 'node_modules/purepkg'), { recursive: true });
    await writeFile(path.join(project, 'node_modules/purepkg/index.js'), "module.exports = 'from node_modules';\n");
    // esbuild cannot see a require made through createRequire: purepkg is not bundled.
    const handler = path.join(project, 'handlers/runtime-require.mjs');
    await writeFile(handler, "import { createRequire } from 'node:module';\nconst value = createRequire(import.meta.url)('purepkg');\nexport const processRecord = () => value;\n");
    const log: string[] = [];
    const bundle = await bundleHandler(handler, { log: (line) => log.push(line) });
    expect([...bundle.files.keys()].sort()).toEqual(['handler.mjs', 'handler.mjs.map']);
    expect(log.filter((line) => line.includes('visible to the handler'))).toEqual([]);
    await expect(checkHandlerLoads(bundle, () => {})).rejects.toThrow("Cannot find module 'purepkg'");
  });

  it('says a file read beside the module is not in the bundle, instead of naming the source folder’s copy, which exists', async () => {
    const project = await writeHandlerProject();
    await writeFile(path.join(project, 'handlers/cfg.json'), '{"x": 7}\n');
    const handler = path.join(project, 'handlers/reads-beside.mjs');
    await writeFile(handler, "import { readFileSync } from 'node:fs';\nconst cfg = readFileSync(new URL('./cfg.json', import.meta.url), 'utf8');\nexport const processRecord = () => cfg;\n");
    await expect(checkHandlerLoads(await bundleHandler(handler, { cacheRoot: await tempDir() }), () => {})).rejects.toMatchObject({
      name: 'HandlerModuleError',
      message: `Handler module ${handler} failed to load: it reads cfg.json beside its module, which is not in the bundle (nor in the code zip): only what the handler imports is bundled. Import the file (a JSON import is bundled), or read it from the input.`,
    });
  });
});

describe('bundle errors point at the user\'s file and line', () => {
  let project: string;
  beforeAll(async () => {
    project = await writeHandlerProject();
    await writeFile(path.join(project, 'handlers/broken.ts'), 'export function processRecord(state: object) {\n  const x = ;\n}\n');
    await writeFile(path.join(project, 'handlers/missing-package.ts'), "import leftPad from 'left-pad';\nexport const processRecord = () => leftPad('x', 2);\n");
  });

  it('a syntax error: file, line, column and the line itself', async () => {
    const failure = bundleHandler(path.join(project, 'handlers/broken.ts'), { cacheRoot: await tempDir() });
    await expect(failure).rejects.toThrow(HandlerModuleError);
    await expect(failure).rejects.toThrow(`${path.join(project, 'handlers/broken.ts')}:2:13: Unexpected ";"\n      const x = ;\n                ^`);
  });

  it('a package that is not installed, with the command that installs it', async () => {
    await expect(bundleHandler(path.join(project, 'handlers/missing-package.ts'), { cacheRoot: await tempDir() })).rejects.toThrow(
      `${path.join(project, 'handlers/missing-package.ts')}:1:21: Could not resolve "left-pad" (is it installed? run npm install left-pad in the handler's project)`,
    );
  });

  it('stops the CLI with exit 2 before any work', async () => {
    const output = path.join(await tempDir(), 'never-created');
    const { code, err } = await cli(['run', '--input', path.join(project, 'input'), '--output', output, '--handler', path.join(project, 'handlers/broken.ts')]);
    expect(code).toBe(2);
    expect(err).toContain('broken.ts does not build:');
    expect(err).toContain('broken.ts:2:13: Unexpected ";"');
    await expect(readFile(output)).rejects.toThrow('ENOENT');
  });
});

describe('native addons', () => {
  /** A package with compiled code, like better-sqlite3: a binding.gyp and a .node file with an ELF header for `machine`. */
  async function nativeProject(machine: number): Promise<string> {
    const project = await writeHandlerProject();
    const dir = path.join(project, 'node_modules/fast-native');
    await mkdir(path.join(dir, 'build/Release'), { recursive: true });
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'fast-native', main: 'index.js', dependencies: { 'legacy-pad': '2' } }));
    await writeFile(path.join(dir, 'binding.gyp'), '{"targets": [{"target_name": "fast"}]}');
    await writeFile(path.join(dir, 'index.js'), "module.exports = require('./build/Release/fast.node');");
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2; // 64-bit
    elf[5] = 1; // little-endian
    elf.writeUInt16LE(machine, 18);
    await writeFile(path.join(dir, 'build/Release/fast.node'), elf);
    await writeFile(path.join(project, 'handlers/native.ts'), "import fast from 'fast-native';\nexport const processRecord = () => fast;\n");
    return project;
  }

  it('refuses an addon built for another architecture than the functions run on, naming the file', async () => {
    const project = await nativeProject(0x3e); // x86_64, what a GitHub runner builds
    const bundle = await bundleHandler(path.join(project, 'handlers/native.ts'), { cacheRoot: await tempDir() });
    expect(bundle.nativeAddons).toEqual([{ name: 'fast-native', binaries: [{ file: 'node_modules/fast-native/build/Release/fast.node', os: 'linux', arch: 'x86_64' }] }]);
    await expect(buildCodePackage(bundle, { architecture: 'arm64' })).rejects.toThrow(
      "The handler uses native addons that cannot load on the functions' linux arm64:\n  fast-native: built for node_modules/fast-native/build/Release/fast.node (linux x86_64)\n" +
        'Install them for Lambda\'s platform (npm install --os=linux --cpu=arm64), set the Architecture template parameter to match (parameters: {"Architecture": "x86_64"}), or use a pure-JavaScript package.',
    );
  });

  it('ships an addon built for the functions\' architecture beside the bundle, with its dependencies, outside it', async () => {
    const project = await nativeProject(0xb7); // arm64
    const bundle = await bundleHandler(path.join(project, 'handlers/native.ts'), { cacheRoot: await tempDir() });
    const pkg = await buildCodePackage(bundle, { architecture: 'arm64' });
    expect(pkg.files.filter((file) => file.startsWith('handler/'))).toEqual([
      'handler/handler.mjs',
      'handler/handler.mjs.map',
      'handler/node_modules/fast-native/binding.gyp',
      'handler/node_modules/fast-native/build/Release/fast.node',
      'handler/node_modules/fast-native/index.js',
      'handler/node_modules/fast-native/package.json',
      'handler/node_modules/legacy-pad/lib/pad.js',
      'handler/node_modules/legacy-pad/package.json',
    ]);
    expect(bundle.files.get('handler.mjs')!.toString('utf8')).toContain('from "fast-native"');
  });

  // @parcel/watcher's addon is not context-aware: a second thread of the process cannot load it.
  const singleThreadAddon = path.resolve(here, '../node_modules/@parcel/watcher-linux-x64-glibc');
  (existsSync(singleThreadAddon) ? it : it.skip)('refuses an addon that loads in one thread only, before any work, naming the handler', async () => {
    const project = await writeHandlerProject();
    await cp(singleThreadAddon, path.join(project, 'node_modules/one-thread-native'), { recursive: true });
    const handler = path.join(project, 'handlers/one-thread.js');
    await writeFile(handler, "const addon = require('one-thread-native/watcher.node');\nexports.processRecord = (state) => { state.addon = typeof addon.subscribe; };\n");
    const bundle = await bundleHandler(handler);
    expect(bundle.nativeAddons.map((addon) => addon.name)).toEqual(['one-thread-native']);
    const refused = await checkHandlerLoads(bundle, () => {}).then(() => undefined, (error: unknown) => error as Error);
    expect(refused).toBeInstanceOf(HandlerModuleError);
    expect(refused!.message).toBe(
      `Handler module ${handler} loads a native addon (one-thread-native) that cannot be loaded in more than one thread ("Module did not self-register": it is not context-aware). The local engine runs each Lambda environment as a worker thread of one process, so it cannot run this handler: use a context-aware version of the addon (N-API, or NODE_MODULE_INIT), or run with engine aws.`,
    );
  });

  const realAddon = path.resolve(here, '../node_modules/@unrs/resolver-binding-linux-x64-gnu');
  (process.arch === 'x64' && process.platform === 'linux' ? it : it.skip)('loads a real addon for this machine (x86_64) from beside the bundle, locally', async () => {
    const project = await writeHandlerProject();
    await cp(realAddon, path.join(project, 'node_modules/real-native'), { recursive: true });
    await writeFile(path.join(project, 'handlers/real-native.js'), "const addon = require('real-native');\nexports.processRecord = (state) => { state.addon = typeof addon; };\n");
    const bundle = await bundleHandler(path.join(project, 'handlers/real-native.js'));
    expect(bundle.nativeAddons).toEqual([{ name: 'real-native', binaries: [expect.objectContaining({ os: 'linux', arch: 'x86_64' })] }]);
    await expect(buildCodePackage(bundle, { architecture: 'x86_64' })).resolves.toMatchObject({ handlerEntry: 'handler/handler.mjs' });
    const report = await runLocal({ job: parseJob({ input: path.join(project, 'input'), output: await tempDir(), format: 'lines', partitions: 1 }), handler: bundle.source, bundle, concurrency: 1 });
    expect([report.status, report.result]).toEqual(['SUCCEEDED', { addon: 'object' }]);
  });
});
