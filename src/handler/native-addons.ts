import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { HandlerModuleError } from '../errors.ts';

/** A Lambda function's instruction set (the template's `Architecture`). */
export type Architecture = 'x86_64' | 'arm64';

/** One compiled `.node` file and what it was built for, read from its header. */
export interface NativeBinary {
  /** Path inside the bundle, like `node_modules/better-sqlite3/build/Release/better_sqlite3.node`. */
  readonly file: string;
  readonly os: 'linux' | 'macos' | 'windows' | 'unknown';
  readonly arch: string;
}

/** An npm package with compiled code: esbuild cannot inline it, so it ships beside the bundle. */
export interface NativeAddon {
  readonly name: string;
  readonly binaries: readonly NativeBinary[];
}

const ELF_MACHINES: Record<number, string> = { 0x03: 'x86', 0x28: 'arm', 0x3e: 'x86_64', 0xb7: 'arm64' };
const MACHO_CPUS: Record<number, string> = { 0x01000007: 'x86_64', 0x0100000c: 'arm64' };

/** The OS and architecture of a compiled file, from its first bytes (ELF, Mach-O or PE). */
export function binaryTarget(header: Uint8Array): { os: NativeBinary['os']; arch: string } {
  const bytes = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (bytes.length >= 20 && bytes.readUInt32BE(0) === 0x7f454c46) {
    const machine = bytes[5] === 2 ? bytes.readUInt16BE(18) : bytes.readUInt16LE(18);
    return { os: 'linux', arch: ELF_MACHINES[machine] ?? `machine 0x${machine.toString(16)}` };
  }
  if (bytes.length >= 8 && bytes.readUInt32LE(0) === 0xfeedfacf) return { os: 'macos', arch: MACHO_CPUS[bytes.readUInt32LE(4)] ?? 'unknown' };
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0xcafebabe) return { os: 'macos', arch: 'universal' };
  if (bytes.length >= 2 && bytes[0] === 0x4d && bytes[1] === 0x5a) return { os: 'windows', arch: 'unknown' };
  return { os: 'unknown', arch: 'unknown' };
}

/** What stops a package's native addons from loading on Lambda's Linux for `architecture`; undefined when they load. */
export function nativeAddonProblem(addons: readonly NativeAddon[], architecture: Architecture): string | undefined {
  const problems = addons
    .filter((addon) => !addon.binaries.some((binary) => binary.os === 'linux' && binary.arch === architecture))
    .map((addon) => {
      const built = addon.binaries.map((binary) => `${binary.file} (${binary.os} ${binary.arch})`).join(', ');
      return `${addon.name}: ${built === '' ? 'no compiled .node file was found (was it installed with --ignore-scripts?)' : `built for ${built}`}`;
    });
  if (problems.length === 0) return undefined;
  return (
    `The handler uses native addons that cannot load on the functions' linux ${architecture}:\n  ${problems.join('\n  ')}\n` +
    `Install them for Lambda's platform (npm install --os=linux --cpu=${architecture === 'arm64' ? 'arm64' : 'x64'}), set the Architecture template parameter to match ` +
    `(parameters: {"Architecture": "${architecture === 'arm64' ? 'x86_64' : 'arm64'}"}), or use a pure-JavaScript package.`
  );
}

export function assertNativeAddonsRunOn(addons: readonly NativeAddon[], architecture: Architecture): void {
  const problem = nativeAddonProblem(addons, architecture);
  if (problem !== undefined) throw new HandlerModuleError(problem);
}

const LOADER_PACKAGES = ['bindings', 'node-gyp-build', 'prebuild-install', 'node-pre-gyp', '@mapbox/node-pre-gyp', 'node-gyp-build-optional-packages'];
/** Where packages keep compiled files; searched below the package root, never in its node_modules. */
const BINARY_DIRS = ['', 'build', 'prebuilds', 'lib', 'bin', 'binding', 'dist'];
const MAX_DEPTH = 4;

/**
 * Whether a package directory holds compiled code or loads it at run time: a `binding.gyp`, a
 * `.node` file, or a dependency on one of the loaders (`bindings`, `node-gyp-build`, ...), which find
 * their `.node` file relative to the package and so break once inlined into a bundle.
 */
export async function isNativePackage(dir: string): Promise<boolean> {
  if (existsSync(path.join(dir, 'binding.gyp'))) return true;
  const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => '{}')) as { gypfile?: boolean; dependencies?: Record<string, string> };
  if (manifest.gypfile === true || LOADER_PACKAGES.some((name) => manifest.dependencies?.[name] !== undefined)) return true;
  return (await findBinaries(dir)).length > 0;
}

async function findBinaries(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isFile() && entry.name.endsWith('.node')) found.push(full);
      else if (entry.isDirectory() && entry.name !== 'node_modules' && depth < MAX_DEPTH && (depth > 0 || BINARY_DIRS.includes(entry.name))) await walk(full, depth + 1);
    }
  };
  await walk(root, 0);
  return found.sort();
}

/**
 * A native package and the packages it needs at run time (its `dependencies`, found as Node finds
 * them), as files under `node_modules/<name>/`, ready to ship beside the bundle.
 */
export async function nativePackageFiles(name: string, dir: string, files: Map<string, Buffer>): Promise<NativeAddon> {
  const before = new Set(files.keys());
  await copyPackage(name, dir, files);
  const binaries = [...files.keys()]
    .filter((file) => !before.has(file) && file.endsWith('.node'))
    .map((file): NativeBinary => ({ file, ...binaryTarget(files.get(file)!.subarray(0, 64)) }));
  return { name, binaries };
}

async function copyPackage(name: string, dir: string, files: Map<string, Buffer>): Promise<void> {
  const archiveDir = `node_modules/${name}`;
  if (files.has(`${archiveDir}/package.json`)) return;
  for (const file of await listFiles(dir)) files.set(`${archiveDir}/${toPosix(path.relative(dir, file))}`, await readFile(file));
  const manifest = JSON.parse(files.get(`${archiveDir}/package.json`)?.toString('utf8') ?? '{}') as { dependencies?: Record<string, string> };
  for (const dependency of Object.keys(manifest.dependencies ?? {}).sort()) {
    const found = findPackageDir(dependency, dir);
    if (found === undefined) throw new HandlerModuleError(`${name} needs "${dependency}", which is not installed: run npm install in the handler's project.`);
    await copyPackage(dependency, found, files);
  }
}

/** Where Node would find package `name` from `from`: the nearest `node_modules/<name>` above it. */
export function findPackageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== '.git') out.push(...(await listFiles(full)));
    } else if ((await stat(full)).isFile()) out.push(full);
  }
  return out.sort();
}

function toPosix(relative: string): string {
  return relative.split(path.sep).join('/');
}
