import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors.ts';

/**
 * Where data lives: an S3 bucket and key prefix, or a local directory. With `object` set, the
 * location is that one object (file) in the prefix (directory), and keys stay relative to it.
 */
export type Location =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string; readonly uri: string; readonly object?: string }
  | { readonly kind: 'dir'; readonly path: string; readonly uri: string; readonly object?: string };

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** A last path part that names a data file rather than a folder: `logs/app.ndjson.gz`, `data.csv`. */
const DATA_FILE = /\.(csv|tsv|txt|log|json|jsonl|ndjson|gz|gzip|bz2|xz|zst|zstd|lz4|snappy|zip|7z|parquet|orc|avro)$/i;

/**
 * Parses `s3://bucket/prefix`, `file:///abs/path` or a plain path. A prefix is a folder: it is
 * normalised to end with `/`, so `s3://b/day-1` never picks up `day-10/`. As an input (`single`),
 * an existing local file, or an S3 key without a trailing `/` whose last part has a data file
 * extension (`s3://b/logs/app.csv`), is that one object.
 */
export function parseLocation(value: string, inputName: string, { single = false }: { single?: boolean } = {}): Location {
  const text = value.trim();
  if (text === '') {
    throw new InputError(`${inputName} is empty: give an S3 URI like s3://my-bucket/logs/ or a local directory path.`);
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  // `s3:/bucket/x` would otherwise be a local directory named `s3:`. (One letter is a Windows drive.)
  const malformed = scheme === undefined ? /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(text)?.[1] : undefined;
  if (malformed !== undefined) {
    throw new InputError(`${inputName} "${text}" is not a URI: write ${malformed.toLowerCase()}://bucket/prefix with two slashes, or ./${text} for a local path with a colon in its name.`);
  }
  if (scheme === undefined) return dirLocation(path.resolve(text), single);
  if (scheme === 'file') return dirLocation(fileURLToPath(text), single);
  if (scheme !== 's3') {
    throw new InputError(
      `${inputName} "${text}" uses the unsupported scheme "${scheme}://": use s3://bucket/prefix or a local directory path.`,
    );
  }
  const rest = text.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new InputError(
      `${inputName} "${text}" does not name a valid S3 bucket ("${bucket}"): bucket names are 3-63 lowercase letters, digits, dots and hyphens.`,
    );
  }
  const rawPrefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+/, '');
  if (single && DATA_FILE.test(rawPrefix)) {
    const cut = rawPrefix.lastIndexOf('/') + 1;
    return { kind: 's3', bucket, prefix: rawPrefix.slice(0, cut), uri: `s3://${bucket}/${rawPrefix}`, object: rawPrefix.slice(cut) };
  }
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { kind: 's3', bucket, prefix, uri: `s3://${bucket}/${prefix}` };
}

/** The URI of a key under an S3 prefix, as reports and errors name it. */
export function s3KeyUri(bucket: string, prefix: string, key: string): string {
  return `s3://${bucket}/${prefix}${key}`;
}

function dirLocation(target: string, single: boolean): Location {
  if (single && statSync(target, { throwIfNoEntry: false })?.isFile() === true) {
    return { kind: 'dir', path: path.dirname(target), uri: target, object: path.basename(target) };
  }
  return { kind: 'dir', path: target, uri: target };
}

/** The input location of a job: a folder, or one file or S3 object. */
export function parseInputLocation(value: string, inputName = 'input'): Location {
  return parseLocation(value, inputName, { single: true });
}
