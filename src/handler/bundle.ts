import { existsSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import type { BuildFailure, BuildOptions, Message, Metafile, Plugin } from 'esbuild';
import { HandlerModuleError } from '../errors.ts';
import { BundleCache, bundleCacheRoot, bundlesRoot, nodeModulesAbove, sha256 } from './bundle-cache.ts';
import { ESBUILD_VERSION, loadEsbuild, type EsbuildApi } from './load-esbuild.ts';
import { binaryTarget, findPackageDir, isNativePackage, nativePackageFiles, type NativeAddon } from './native-addons.ts';

/** The bundled module inside a bundle (and, under handler/, inside the code zip). */
export const BUNDLE_ENTRY = 'handler.mjs';

/** One build of the user's handler: what the local engine runs and the AWS engine zips, byte for byte. */
export interface HandlerBundle {
  /** The user's module, as given. */
  readonly source: string;
  /** The directory the bundle's source paths are relative to: the handler's package. */
  readonly projectDir: string;
  /** The bundle in the cache: its files, with BUNDLE_ENTRY the module to load. */
  readonly dir: string;
  readonly file: string;
  readonly files: ReadonlyMap<string, Buffer>;
  readonly sha256: string;
  /** The entry's ESM export names; `default` alone for a CommonJS handler. */
  readonly exports: readonly string[];
  readonly nativeAddons: readonly NativeAddon[];
  /** esbuild's warnings, each with the user's file and line. */
  readonly warnings: readonly string[];
  /** Whether the cache had it. */
  readonly cached: boolean;
}

export interface BundleOptions {
  /** Defaults to bundleCacheRoot() of the handler's project. */
  readonly cacheRoot?: string;
  readonly log?: (line: string) => void;
  readonly esbuild?: EsbuildApi;
}

/** Bumped when the build settings or the bundle layout change, so old cache entries are not used. */
const BUNDLE_FORMAT = 1;

/**
 * The build, as AWS CDK's NodejsFunction and SAM's esbuild builder make it for ESM: one ESM file
 * for Node 24 with a linked source map; npm packages bundled and tree-shaken (preferring their ESM
 * builds), the AWS SDK v3 included like any package so the code that runs locally is exactly the
 * code that runs in Lambda whatever SDK the runtime ships; Node built-ins left to Node. CommonJS
 * packages inside get a real `require` (for built-ins) and `__dirname`/`__filename`.
 */
const BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  mainFields: ['module', 'main'],
  sourcemap: 'linked',
  sourcesContent: true,
  banner: { js: "import { createRequire as __sfnFanoutCreateRequire } from 'node:module';\nconst require = __sfnFanoutCreateRequire(import.meta.url);" },
  define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
  // A .node file required by path is copied beside the bundle, and its architecture checked.
  loader: { '.node': 'copy' },
  logLevel: 'silent',
  metafile: true,
  write: false,
} as const satisfies BuildOptions;

interface BundleMeta {
  readonly exports: readonly string[];
  readonly nativeAddons: readonly NativeAddon[];
  readonly warnings: readonly string[];
}

/**
 * Bundles the user's handler with esbuild, or takes it from the cache when nothing it was built
 * from has changed. Any TypeScript (enums, namespaces, parameter properties), CommonJS or ESM, in
 * any package type. Build errors name the user's file, line and column.
 */
export async function bundleHandler(modulePath: string, options: BundleOptions = {}): Promise<HandlerBundle> {
  const source = path.resolve(modulePath);
  if (!existsSync(source)) {
    throw new HandlerModuleError(`Handler module ${source} does not exist: check the handler path (relative paths start from the working directory).`);
  }
  if (!statSync(source).isFile()) throw new HandlerModuleError(`Handler module ${source} is a directory: give the module file, like ${path.join(source, 'handler.ts')}.`);
  const projectDir = packageRoot(source);
  const cacheRoot = options.cacheRoot ?? bundleCacheRoot(projectDir);
  const esbuild = options.esbuild ?? (await loadEsbuild({ projectDir, installDir: path.join(cacheRoot, `esbuild-${ESBUILD_VERSION}`), ...(options.log === undefined ? {} : { log: options.log }) }));
  const cache = new BundleCache(cacheRoot, bundlesRoot(cacheRoot));
  const visible = nodeModulesAbove(cache.bundles);
  if (visible.length > 0) options.log?.(`Packages in ${visible.join(', ')} are visible to the handler in a local run but are not in the code zip: a package it loads at run time without an import esbuild can see works locally and fails in Lambda. Set SFN_FANOUT_CACHE_DIR to a folder with no node_modules above it.`);
  const key = sha256(JSON.stringify({ format: BUNDLE_FORMAT, esbuild: esbuild.version, source, options: BUILD_OPTIONS }));
  const hit = await cache.get<BundleMeta>(key);
  if (hit !== undefined) return { source, projectDir, dir: hit.dir, file: path.join(hit.dir, BUNDLE_ENTRY), files: hit.files, sha256: hit.sha256, ...hit.meta, cached: true };

  const natives = new Map<string, string>();
  let result: { outputFiles: { path: string; contents: Uint8Array }[]; metafile: Metafile; warnings: Message[] };
  try {
    result = await esbuild.build({
      ...BUILD_OPTIONS,
      entryPoints: [source],
      absWorkingDir: projectDir,
      // Never written: the path only makes the map's source paths relative to the project.
      outfile: path.join(projectDir, BUNDLE_ENTRY),
      plugins: [nativePackagesExternal(natives)],
    });
  } catch (error) {
    const failure = error as Partial<BuildFailure>;
    if (!Array.isArray(failure.errors)) throw error;
    throw new HandlerModuleError(`Handler module ${displayPath(source)} does not build:\n${formatMessages(failure.errors, projectDir)}`, { cause: error });
  }

  const files = new Map<string, Buffer>();
  const nativeAddons: NativeAddon[] = [];
  for (const output of result.outputFiles) {
    const name = path.relative(projectDir, output.path).split(path.sep).join('/');
    const data = Buffer.from(output.contents);
    files.set(name, data);
    if (name.endsWith('.node')) nativeAddons.push({ name, binaries: [{ file: name, ...binaryTarget(data.subarray(0, 64)) }] });
  }
  for (const [name, dir] of [...natives].sort(([a], [b]) => (a < b ? -1 : 1))) nativeAddons.push(await nativePackageFiles(name, dir, files));
  const entryOutput = Object.values(result.metafile.outputs).find((output) => output.entryPoint !== undefined);
  const meta: BundleMeta = {
    exports: entryOutput?.exports ?? [],
    nativeAddons,
    warnings: result.warnings.length === 0 ? [] : [formatMessages(result.warnings, projectDir)],
  };
  const inputs = Object.keys(result.metafile.inputs)
    .map((input) => path.resolve(projectDir, input))
    .filter((input) => existsSync(input));
  const stored = await cache.put(key, files, [...inputs, ...[...natives.values()].map((dir) => path.join(dir, 'package.json'))], meta);
  return { source, projectDir, dir: stored.dir, file: path.join(stored.dir, BUNDLE_ENTRY), files, sha256: stored.sha256, ...meta, cached: false };
}

/** The nearest directory above the module with a package.json: its package, where its tsconfig and node_modules are. */
function packageRoot(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.dirname(file);
  }
}

const BUILTINS = new Set(builtinModules);

/** Packages with compiled code stay out of the bundle: they are required at run time from node_modules/ beside it. */
function nativePackagesExternal(found: Map<string, string>): Plugin {
  const verdicts = new Map<string, Promise<boolean>>();
  return {
    name: 'sfn-fanout-native-packages',
    setup(build) {
      // Bare specifiers only (the filter runs in esbuild; RE2 has no lookahead).
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.path.startsWith('node:') || BUILTINS.has(args.path.split('/')[0]!)) return undefined;
        const name = packageName(args.path);
        const dir = findPackageDir(name, args.resolveDir);
        if (dir === undefined) return undefined;
        let native = verdicts.get(dir);
        if (native === undefined) verdicts.set(dir, (native = isNativePackage(dir)));
        if (!(await native)) return undefined;
        if (!found.has(name)) found.set(name, dir);
        return { path: args.path, external: true };
      });
    },
  };
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** esbuild messages as `file:line:column: text`, the source line and a caret, with the fix where we know it. */
function formatMessages(messages: readonly Message[], projectDir: string): string {
  return messages
    .map((message) => {
      const hint = /^Could not resolve "([^".][^"]*)"/.exec(message.text);
      const fix = hint === null ? '' : ` (is it installed? run npm install ${packageName(hint[1]!)} in the handler's project)`;
      const location = message.location;
      if (location === null) return `  ${message.text}${fix}`;
      const file = displayPath(path.resolve(projectDir, location.file));
      return `  ${file}:${location.line}:${location.column + 1}: ${message.text}${fix}\n    ${location.lineText}\n    ${' '.repeat(location.column)}^`;
    })
    .join('\n');
}

/** A path as the user would type it: relative to the working directory when below it. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
