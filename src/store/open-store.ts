import { S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../location.ts';
import { DirStore } from './dir-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3Store } from './s3-store.ts';

/** Settings for talking to S3 or an S3-compatible server (s3rver, MinIO, LocalStack). */
export interface S3Settings {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
}

/** Reads S3 settings from the environment the way Lambda and the CLI both see them. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  return { endpoint: env.SFN_FANOUT_S3_ENDPOINT || undefined, region: env.AWS_REGION || env.AWS_DEFAULT_REGION };
}

export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region ?? 'us-east-1',
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint, forcePathStyle: true }),
  });
}

/** Opens a store for a location; one S3 client serves every S3 location of a run. */
export function openStore(location: Location, s3: () => S3Client): ObjectStore {
  return location.kind === 's3' ? new S3Store(s3(), location.bucket, location.prefix, location.object) : new DirStore(location.path, location.object);
}

/** Builds the S3 client lazily, once, so a local-only run never touches AWS configuration. */
export function lazyS3Client(settings: S3Settings): () => S3Client {
  let client: S3Client | undefined;
  return () => (client ??= createS3Client(settings));
}
