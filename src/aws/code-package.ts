import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CancelledError, StoreError, errorMessage } from '../errors.ts';
import { BUNDLE_ENTRY, type HandlerBundle } from '../handler/bundle.ts';
import { assertNativeAddonsRunOn, type Architecture } from '../handler/native-addons.ts';
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

export interface CodePackageOptions {
  /** The functions' architecture: native addons must be built for it. */
  readonly architecture: Architecture;
  readonly lambdaDir?: string;
}

/**
 * The code zip every function of the stack runs: sfn-fanout's bundled handlers at the root, and
 * under handler/ the user's handler bundle, the very files the local engine runs.
 */
export async function buildCodePackage(bundle: HandlerBundle, options: CodePackageOptions): Promise<CodePackage> {
  assertNativeAddonsRunOn(bundle.nativeAddons, options.architecture);
  const lambdaDir = options.lambdaDir ?? defaultLambdaDir();
  const entries: ZipEntry[] = [{ name: 'package.json', data: Buffer.from('{\n  "type": "module"\n}\n') }];
  for (const name of LAMBDA_MODULES) {
    const file = path.join(lambdaDir, `${name}.js`);
    if (!existsSync(file)) throw new StoreError(`The bundled ${name} handler is missing (${file}): run npm run build.`);
    entries.push({ name: `${name}.js`, data: await readFile(file) });
  }
  for (const [name, data] of bundle.files) entries.push({ name: `handler/${name}`, data });
  const zip = deterministicZip(entries);
  return {
    zip,
    sha256: createHash('sha256').update(zip).digest('hex'),
    handlerEntry: `handler/${BUNDLE_ENTRY}`,
    files: entries.map((entry) => entry.name).sort(),
  };
}

export interface UploadOptions {
  /**
   * The account the bucket must belong to (the caller's): S3 refuses the call with 403 when it
   * does not, so the code is never written to, or taken from, a bucket another account controls.
   */
  readonly expectedOwner?: string;
  readonly signal?: AbortSignal;
}

/**
 * Uploads under a content-hash key unless that key already exists; returns whether it uploaded.
 * HeadObject of a missing key answers 403, not 404, when the role may list the bucket only under a
 * prefix (the s3:prefix condition never matches a HeadObject): then the put decides, with
 * If-None-Match so an object already there is left alone (412).
 */
export async function uploadIfAbsent(s3: S3Client, bucket: string, key: string, body: Buffer, options: UploadOptions = {}): Promise<boolean> {
  const { signal, expectedOwner } = options;
  const call = signal === undefined ? {} : { abortSignal: signal };
  const owner = expectedOwner === undefined ? {} : { ExpectedBucketOwner: expectedOwner };
  const aborted = (): boolean => signal?.aborted === true;
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...owner }), call);
    return false;
  } catch (error) {
    if (aborted()) throw new CancelledError(`Cancelled while checking s3://${bucket}/${key}.`, { cause: error });
    const status = httpStatus(error);
    if (status !== 404 && status !== 403) throw new StoreError(`Cannot check s3://${bucket}/${key}: ${errorMessage(error)}. Does the role have s3:GetObject on the artifact bucket?`, { cause: error });
  }
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/zip', IfNoneMatch: '*', ...owner }), call);
    return true;
  } catch (error) {
    if (aborted()) throw new CancelledError(`Cancelled while uploading s3://${bucket}/${key}.`, { cause: error });
    if (httpStatus(error) === 412) return false;
    const notOurs =
      expectedOwner !== undefined && httpStatus(error) === 403
        ? ` Either the bucket belongs to another AWS account than ${expectedOwner} (sfn-fanout only uses an artifact bucket of the account it runs in: set artifact-bucket to a bucket of account ${expectedOwner}), or the role lacks s3:PutObject on it.`
        : ' Does the role have s3:PutObject on the artifact bucket?';
    throw new StoreError(`Cannot upload s3://${bucket}/${key}: ${errorMessage(error)}.${notOurs}`, { cause: error });
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function codeKey(pkg: CodePackage): string {
  return `sfn-fanout/code/${pkg.sha256}.zip`;
}
