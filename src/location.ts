import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors.ts';

/** Where data lives: an S3 bucket and key prefix, or a local directory. */
export type Location =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string; readonly uri: string }
  | { readonly kind: 'dir'; readonly path: string; readonly uri: string };

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3://bucket/prefix`, `file:///abs/path` or a plain path. A prefix is a folder: it is
 * normalised to end with `/`, so `s3://b/day-1` never picks up `day-10/`.
 */
export function parseLocation(value: string, inputName: string): Location {
  const text = value.trim();
  if (text === '') {
    throw new InputError(`${inputName} is empty: give an S3 URI like s3://my-bucket/logs/ or a local directory path.`);
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return dirLocation(path.resolve(text));
  if (scheme === 'file') return dirLocation(fileURLToPath(text));
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
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { kind: 's3', bucket, prefix, uri: `s3://${bucket}/${prefix}` };
}

function dirLocation(dir: string): Location {
  return { kind: 'dir', path: dir, uri: dir };
}
