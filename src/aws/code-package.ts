import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CancelledError, HandlerModuleError, StoreError, errorMessage } from '../errors.ts';
import { deterministicZip, type ZipEntry } from './zip.ts';

export const LAMBDA_MODULES = ['partitioner', 'worker', 'reducer'] as const;

export interface CodePackage {
  readonly zip: Buffer;
  readonly sha256: string;
  /** The handler's path inside the package: the functions' SFN_FANOUT_HANDLER. */
  readonly handlerEntry: string;
  readonly files: readonly string[];
}

/** The bundled Lambda handlers: dist/lambdas/ beside the action, or in the repository. */
export function defaultLambdaDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return here.endsWith(`${path.sep}dist`) ? path.join(here, 'lambdas') : path.resolve(here, '../../dist/lambdas');
}

/**
 * The code zip every function of the stack runs: sfn-fanout's bundled handlers at the root, and
 * under handler/ the user's module with the relative files and npm packages it imports (found by
 * following its import statements; `import type` is left out, as Node strips it).
 */
export async function buildCodePackage(handlerPath: string, lambdaDir = defaultLambdaDir()): Promise<CodePackage> {
  const handlerFile = path.resolve(handlerPath);
  if (!existsSync(handlerFile)) throw new HandlerModuleError(`Handler module ${handlerFile} does not exist.`);
  const root = path.dirname(handlerFile);
  const entries: ZipEntry[] = [{ name: 'package.json', data: Buffer.from('{\n  "type": "module"\n}\n') }];
  for (const name of LAMBDA_MODULES) {
    const file = path.join(lambdaDir, `${name}.js`);
    if (!existsSync(file)) throw new StoreError(`The bundled ${name} handler is missing (${file}): run npm run build.`);
    entries.push({ name: `${name}.js`, data: await readFile(file) });
  }
  const files = new Map<string, string>();
  await collectModule(handlerFile, root, files);
  for (const [archivePath, file] of files) entries.push({ name: `handler/${archivePath}`, data: await readFile(file) });
  const zip = deterministicZip(entries);
  return {
    zip,
    sha256: createHash('sha256').update(zip).digest('hex'),
    handlerEntry: `handler/${path.relative(root, handlerFile).split(path.sep).join('/')}`,
    files: entries.map((entry) => entry.name).sort(),
  };
}

const IMPORT = /(?:^|[\s;}])(?:import|export)\s+(type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?['"]([^'"\n]+)['"]|\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;
const BUILTINS = new Set(builtinModules);

async function collectModule(file: string, root: string, files: Map<string, string>): Promise<void> {
  const archivePath = path.relative(root, file).split(path.sep).join('/');
  if (archivePath.startsWith('..')) {
    throw new HandlerModuleError(`The handler imports ${file}, outside its folder ${root}: move that file into the handler's folder so it is packaged.`);
  }
  if (files.has(archivePath)) return;
  files.set(archivePath, file);
  const source = await readFile(file, 'utf8');
  for (const match of source.matchAll(IMPORT)) {
    if (match[1] !== undefined) continue; // import type: erased before it runs
    const specifier = match[2] ?? match[3]!;
    if (specifier.startsWith('.')) {
      await collectModule(path.resolve(path.dirname(file), specifier), root, files);
    } else if (!specifier.startsWith('node:') && !BUILTINS.has(specifier)) {
      await collectPackage(packageName(specifier), root, root, files);
    }
  }
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** An npm package and its dependencies, found as Node would from `from`, copied whole under node_modules/. */
async function collectPackage(name: string, from: string, root: string, files: Map<string, string>): Promise<void> {
  const archiveDir = `node_modules/${name}`;
  if ([...files.keys()].some((key) => key.startsWith(`${archiveDir}/`))) return;
  let dir = from;
  let found: string | undefined;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) {
      found = candidate;
      break;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (found === undefined) throw new HandlerModuleError(`The handler imports "${name}", which is not installed: run npm install ${name} in the handler's project.`);
  for (const file of await listFiles(found)) {
    files.set(`${archiveDir}/${path.relative(found, file).split(path.sep).join('/')}`, file);
  }
  const manifest = JSON.parse(await readFile(path.join(found, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dependency of Object.keys(manifest.dependencies ?? {})) await collectPackage(dependency, found, root, files);
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== '.git') out.push(...(await listFiles(full)));
    } else if ((await stat(full)).isFile()) out.push(full);
  }
  return out;
}

/**
 * Uploads under a content-hash key unless that key already exists; returns whether it uploaded.
 * HeadObject of a missing key answers 403, not 404, when the role may list the bucket only under a
 * prefix (the s3:prefix condition never matches a HeadObject): then the put decides, with
 * If-None-Match so an object already there is left alone (412).
 */
export async function uploadIfAbsent(s3: S3Client, bucket: string, key: string, body: Buffer, signal?: AbortSignal): Promise<boolean> {
  const call = signal === undefined ? {} : { abortSignal: signal };
  const aborted = (): boolean => signal?.aborted === true;
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), call);
    return false;
  } catch (error) {
    if (aborted()) throw new CancelledError(`Cancelled while checking s3://${bucket}/${key}.`, { cause: error });
    const status = httpStatus(error);
    if (status !== 404 && status !== 403) throw new StoreError(`Cannot check s3://${bucket}/${key}: ${errorMessage(error)}. Does the role have s3:GetObject on the artifact bucket?`, { cause: error });
  }
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/zip', IfNoneMatch: '*' }), call);
    return true;
  } catch (error) {
    if (aborted()) throw new CancelledError(`Cancelled while uploading s3://${bucket}/${key}.`, { cause: error });
    if (httpStatus(error) === 412) return false;
    throw new StoreError(`Cannot upload s3://${bucket}/${key}: ${errorMessage(error)}. Does the role have s3:PutObject on the artifact bucket?`, { cause: error });
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function codeKey(pkg: CodePackage): string {
  return `sfn-fanout/code/${pkg.sha256}.zip`;
}
