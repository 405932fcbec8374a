import type { S3Client } from '@aws-sdk/client-s3';
import { s3KeyUri, type Location } from '../location.ts';
import { DeferredStore } from './deferred-store.ts';
import { DirStore } from './dir-store.ts';
import type { ObjectStore } from './object-store.ts';

/** Settings for talking to S3 or an S3-compatible server (s3rver, MinIO, LocalStack). */
export interface S3Settings {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
}

/**
 * How long one S3 request may take, so an endpoint that accepts a connection and never answers
 * fails (and is retried by the SDK) instead of hanging the run. `socketTimeoutMs` is idle time on
 * the socket, through the whole response body; `requestTimeoutMs` bounds the time to the
 * response headers, the upload of a request body included (5 GB, S3's largest PUT, at 50 MB/s
 * is 100 s).
 */
export interface S3Timeouts {
  readonly connectionTimeoutMs: number;
  readonly socketTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export const S3_TIMEOUTS: S3Timeouts = { connectionTimeoutMs: 5_000, socketTimeoutMs: 30_000, requestTimeoutMs: 300_000 };

/** Reads S3 settings from the environment the way Lambda and the CLI both see them. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  return { endpoint: env.SFN_FANOUT_S3_ENDPOINT || undefined, region: env.AWS_REGION || env.AWS_DEFAULT_REGION };
}

/** The region S3 is reached in: the setting, else the environment's, as the SDK and Lambda read it. */
export function regionOf(settings: S3Settings, env: NodeJS.ProcessEnv = process.env): string {
  return settings.region ?? s3SettingsFromEnv(env).region ?? 'us-east-1';
}

/**
 * The longest one request of the CLI's own process may take, its response body included. The
 * timeouts above let a body that trickles a byte at a time run for ever; inside a Lambda the
 * function's Timeout ends that, but nothing does in the process that lists the input and reads
 * the batch file. A page of a listing or a batch file takes seconds.
 */
export const CLI_REQUEST_DEADLINE_MS = 300_000;

export interface S3ClientOptions {
  /** Aborts every request of the client, in flight or to come: a cancelled run stops waiting on S3. */
  readonly signal?: AbortSignal | undefined;
  readonly timeouts?: S3Timeouts;
  /** Ends any request, headers and body, that takes longer (see `CLI_REQUEST_DEADLINE_MS`). */
  readonly requestDeadlineMs?: number;
}

/** Where a run's one S3 client comes from: built, and the SDK loaded, on first use. */
export type S3ClientSource = () => Promise<S3Client>;

/**
 * Opens a store for a location; one S3 client serves every S3 location of a run. S3's store and
 * SDK are imported when the store is first used: a Lambda environment of a local run over a
 * directory never evaluates them, which was two thirds of the time it took to start.
 */
export function openStore(location: Location, s3: S3ClientSource): ObjectStore {
  if (location.kind !== 's3') return new DirStore(location.path, location.object);
  const { bucket, prefix, object } = location;
  return new DeferredStore(location.uri, (key) => s3KeyUri(bucket, prefix, key), async () => {
    const [{ S3Store }, client] = await Promise.all([import(/* webpackMode: "eager" */ './s3-store.ts'), s3()]);
    return new S3Store(client, bucket, prefix, object);
  });
}

/** Builds the S3 client lazily, once, so a local-only run never loads the SDK or touches AWS configuration. */
export function lazyS3Client(settings: S3Settings, options: S3ClientOptions = {}): S3ClientSource {
  let client: Promise<S3Client> | undefined;
  return () => (client ??= import(/* webpackMode: "eager" */ './s3-client.ts').then(({ createS3Client }) => createS3Client(settings, options)));
}
