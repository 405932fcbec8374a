import { createHash, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.ts';

/**
 * The bundle cache. Bundles are immutable directories named by the hash of their files
 * (`bundles/<sha256>/`); an index entry per handler and build settings (`index/<key>.json`) names
 * the bundle and every file it was built from (the bundled sources, and each package.json,
 * tsconfig.json and jsconfig.json above them, present or not) with its hash. An entry is used only
 * while every one of those files still hashes the same, so editing a source, a dependency or a
 * config rebuilds; a new esbuild or sfn-fanout release changes the key.
 */

/** Files that change how esbuild resolves or compiles what sits below them. */
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'jsconfig.json'];

/**
 * Where bundles are cached: SFN_FANOUT_CACHE_DIR; else `node_modules/.cache/sfn-fanout` of the
 * handler's project (where babel-loader and others keep theirs; `npm ci` clears it); else the
 * system temporary directory.
 */
export function bundleCacheRoot(projectDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.SFN_FANOUT_CACHE_DIR !== undefined && env.SFN_FANOUT_CACHE_DIR !== '') return path.resolve(env.SFN_FANOUT_CACHE_DIR);
  for (let dir = projectDir; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'node_modules'))) return path.join(dir, 'node_modules', '.cache', 'sfn-fanout');
    if (path.dirname(dir) === dir) break;
  }
  return privateDirectory(path.join(tmpdir(), `sfn-fanout-cache-${process.getuid?.() ?? 'user'}`));
}

/**
 * A cache directory in the shared temporary directory, made ours: created readable by its owner
 * only, and refused when it is a link, another user's, or writable by others, since whoever can
 * write a bundle there chooses the code a run executes.
 */
export function privateDirectory(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    // A dangling link or a file in its place: refused below.
  }
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) {
    throw new InputError(
      `The bundle cache ${dir} is ${stat.isDirectory() ? `owned by uid ${stat.uid} with mode ${(stat.mode & 0o777).toString(8)}` : 'not a directory'}: another user could choose the code a run executes. Remove it, or set SFN_FANOUT_CACHE_DIR to a directory of your own.`,
    );
  }
  return dir;
}

/**
 * Where the bundles themselves live. Node resolves a package the bundle requires at run time
 * (`createRequire`, a computed `import()`, which esbuild cannot see) in every node_modules folder
 * above the bundle; Lambda has none beside the zip. So a bundle never sits below one: below the
 * cache root when nothing above it has a node_modules folder, else in a folder of the system
 * temporary directory made this user's alone (privateDirectory).
 */
export function bundlesRoot(cacheRoot: string, uid = process.getuid?.()): string {
  const inCache = path.join(cacheRoot, 'bundles');
  return nodeModulesAbove(inCache).length === 0 ? inCache : privateDirectory(path.join(tmpdir(), `sfn-fanout-bundles-${uid ?? 'user'}`));
}

/** The node_modules folders Node would search for a module in `dir`. */
export function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    if (path.basename(at) !== 'node_modules' && existsSync(path.join(at, 'node_modules'))) found.push(path.join(at, 'node_modules'));
    if (path.dirname(at) === at) return found;
  }
}

export interface CachedFiles {
  /** The bundle's files by their path inside it. */
  readonly files: ReadonlyMap<string, Buffer>;
  readonly dir: string;
  readonly sha256: string;
}

/** The hash of a bundle: of each file's path and content, in path order. */
export function filesHash(files: ReadonlyMap<string, Buffer>): string {
  const hash = createHash('sha256');
  for (const name of [...files.keys()].sort()) hash.update(`${name}\0${sha256(files.get(name)!)}\n`);
  return hash.digest('hex');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

interface IndexEntry<T> {
  readonly bundle: string;
  /** Absolute path and content hash; null for a config file that did not exist. */
  readonly sources: readonly (readonly [string, string | null])[];
  readonly meta: T;
}

export class BundleCache {
  readonly root: string;
  /** Where the bundle directories are (see bundlesRoot); the index stays under root. */
  readonly bundles: string;

  constructor(root: string, bundles = path.join(root, 'bundles')) {
    this.root = root;
    this.bundles = bundles;
  }

  /** The cached bundle for `key`, when every file it was built from is unchanged. */
  async get<T>(key: string): Promise<(CachedFiles & { meta: T }) | undefined> {
    const entry = await readFile(this.#indexFile(key), 'utf8')
      .then((text) => JSON.parse(text) as IndexEntry<T>)
      .catch(() => undefined);
    if (entry === undefined) return undefined;
    if (entry.sources.some(([file, expected]) => hashOrNull(file) !== expected)) return undefined;
    const dir = path.join(this.bundles, entry.bundle);
    const files = await readTree(dir).catch(() => undefined);
    // A bundle directory that was changed by hand no longer hashes to its name: build again.
    if (files === undefined || filesHash(files) !== entry.bundle) return undefined;
    return { files, dir, sha256: entry.bundle, meta: entry.meta };
  }

  /** Stores a bundle and records what it was built from; returns where it lives. */
  async put<T>(key: string, files: ReadonlyMap<string, Buffer>, inputs: readonly string[], meta: T): Promise<CachedFiles> {
    const hash = filesHash(files);
    const dir = path.join(this.bundles, hash);
    // A directory already there that no longer hashes to its name (edited, truncated) is replaced.
    const existing = existsSync(dir) ? await readTree(dir).catch(() => undefined) : undefined;
    if (existing === undefined || filesHash(existing) !== hash) {
      // Written aside and renamed into place: a reader never sees half a bundle.
      const staging = path.join(this.bundles, `.staging-${randomUUID()}`);
      for (const [name, data] of files) {
        await mkdir(path.dirname(path.join(staging, name)), { recursive: true });
        await writeFile(path.join(staging, name), data);
      }
      if (existsSync(dir)) {
        const stale = path.join(this.bundles, `.stale-${randomUUID()}`);
        await rename(dir, stale).then(() => rm(stale, { recursive: true, force: true })).catch(() => undefined);
      }
      await rename(staging, dir).catch(async () => rm(staging, { recursive: true, force: true }));
    }
    const sources = [...[...new Set(inputs)].sort(), ...configFilesAbove(inputs)].map((file): [string, string | null] => [file, hashOrNull(file)]);
    const entry: IndexEntry<T> = { bundle: hash, sources, meta };
    const indexFile = this.#indexFile(key);
    await mkdir(path.dirname(indexFile), { recursive: true });
    const temporary = `${indexFile}.${randomUUID()}`;
    await writeFile(temporary, JSON.stringify(entry));
    await rename(temporary, indexFile);
    return { files, dir, sha256: hash };
  }

  #indexFile(key: string): string {
    return path.join(this.root, 'index', `${key}.json`);
  }
}

function configFilesAbove(inputs: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const input of inputs) {
    for (let dir = path.dirname(input); !dirs.has(dir); dir = path.dirname(dir)) {
      dirs.add(dir);
      if (path.dirname(dir) === dir) break;
    }
  }
  return [...dirs].sort().flatMap((dir) => CONFIG_FILES.map((name) => path.join(dir, name)));
}

/**
 * Synchronous on purpose: an SDK-sized bundle has ~1,500 files to check, and one read after another
 * took a fifth of the time of as many reads in flight on the thread pool.
 */
function hashOrNull(file: string): string | null {
  try {
    return sha256(readFileSync(file));
  } catch {
    return null;
  }
}

async function readTree(root: string, prefix = ''): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) for (const [inner, data] of await readTree(root, name)) files.set(inner, data);
    else files.set(name, await readFile(path.join(root, name)));
  }
  return files;
}
