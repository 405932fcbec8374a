import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Location } from '../location.ts';
import { DirStore } from './dir-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3Store } from './s3-store.ts';

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

export interface S3ClientOptions {
  /** Aborts every request of the client, in flight or to come: a cancelled run stops waiting on S3. */
  readonly signal?: AbortSignal | undefined;
  readonly timeouts?: S3Timeouts;
}

export function createS3Client(settings: S3Settings, options: S3ClientOptions = {}): S3Client {
  const timeouts = options.timeouts ?? S3_TIMEOUTS;
  const http = new NodeHttpHandler({
    connectionTimeout: timeouts.connectionTimeoutMs,
    socketTimeout: timeouts.socketTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // Without this a request past requestTimeout only logs a warning and carries on waiting.
    throwOnRequestTimeout: true,
  });
  return new S3Client({
    region: regionOf(settings),
    requestHandler: options.signal === undefined ? http : new CancellableHandler(http, options.signal),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint, forcePathStyle: true }),
  });
}

/** Hands every request the run's abort signal, alongside any signal of its own. */
class CancellableHandler {
  readonly #inner: NodeHttpHandler;
  readonly #signal: AbortSignal;

  constructor(inner: NodeHttpHandler, signal: AbortSignal) {
    this.#inner = inner;
    this.#signal = signal;
  }

  handle(...[request, options = {}]: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    const own = options.abortSignal as AbortSignal | undefined;
    return this.#inner.handle(request, { ...options, abortSignal: own === undefined ? this.#signal : AbortSignal.any([own, this.#signal]) });
  }

  updateHttpClientConfig(...args: Parameters<NodeHttpHandler['updateHttpClientConfig']>): void {
    this.#inner.updateHttpClientConfig(...args);
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.#inner.httpHandlerConfigs();
  }

  destroy(): void {
    this.#inner.destroy();
  }
}

/** Opens a store for a location; one S3 client serves every S3 location of a run. */
export function openStore(location: Location, s3: () => S3Client): ObjectStore {
  return location.kind === 's3' ? new S3Store(s3(), location.bucket, location.prefix, location.object) : new DirStore(location.path, location.object);
}

/** Builds the S3 client lazily, once, so a local-only run never touches AWS configuration. */
export function lazyS3Client(settings: S3Settings, options: S3ClientOptions = {}): () => S3Client {
  let client: S3Client | undefined;
  return () => (client ??= createS3Client(settings, options));
}
