import { parseLocation, type Location } from '../location.ts';
import type { ObjectStore } from './object-store.ts';
import { openStore, type S3ClientSource } from './open-store.ts';

/**
 * Where Step Functions wants a bucket (ItemReader, ResultWriter, template parameters), a local
 * directory stands in as this name, and keys are relative to the directory.
 */
export const LOCAL_BUCKET = 'local';

/** A key of the output location as the bucket and full key Step Functions uses. */
export function bucketAndKey(output: Location, key: string): { bucket: string; key: string } {
  return output.kind === 's3' ? { bucket: output.bucket, key: output.prefix + key } : { bucket: LOCAL_BUCKET, key };
}

/** The store that holds a bucket's keys: the output directory for the local stand-in, else the bucket's root. */
export function storeForBucket(bucket: string, output: Location, s3: S3ClientSource): ObjectStore {
  return bucket === LOCAL_BUCKET ? openStore(output, s3) : openStore(parseLocation(`s3://${bucket}/`, 'bucket'), s3);
}

/** The template's InputBucket, InputPrefix, OutputBucket and OutputPrefix for two locations. */
export function locationParameters(input: Location, output: Location): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const [name, location] of [['Input', input], ['Output', output]] as const) {
    parameters[`${name}Bucket`] = location.kind === 's3' ? location.bucket : LOCAL_BUCKET;
    // One object: its key is the prefix the functions may read, and nothing beside it.
    parameters[`${name}Prefix`] = location.kind === 's3' ? location.prefix + (location.object ?? '') : '';
  }
  return parameters;
}
