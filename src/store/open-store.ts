import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Readable } from 'node:stream';
import type { Location } from '../location.ts';
import { DirStore } from './dir-store.ts';
import type { ObjectStore } from './object-store.ts';
import { REQUEST_DEADLINE_ERROR, S3Store } from './s3-store.ts';

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
    requestHandler: options.signal === undefined && options.requestDeadlineMs === undefined ? http : new CancellableHandler(http, options.signal, options.requestDeadlineMs),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint, forcePathStyle: true }),
  });
}

/** Hands every request the run's abort signal, alongside any signal of its own, and ends it at its deadline. */
class CancellableHandler {
  readonly #inner: NodeHttpHandler;
  readonly #signal: AbortSignal | undefined;
  readonly #deadlineMs: number | undefined;

  constructor(inner: NodeHttpHandler, signal: AbortSignal | undefined, deadlineMs: number | undefined) {
    this.#inner = inner;
    this.#signal = signal;
    this.#deadlineMs = deadlineMs;
  }

  async handle(...[request, options = {}]: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    const deadline = this.#deadlineMs === undefined ? undefined : new AbortController();
    const message = `S3 did not send the whole response within ${(this.#deadlineMs ?? 0) / 1000} s, the limit for one request: the endpoint is stalled or too slow. Check the endpoint and the network, then run again.`;
    const timer = deadline === undefined ? undefined : setTimeout(() => deadline.abort(message), this.#deadlineMs);
    timer?.unref();
    const signals = [options.abortSignal as AbortSignal | undefined, this.#signal, deadline?.signal].filter((signal) => signal !== undefined);
    const handled = await this.#inner.handle(request, { ...options, abortSignal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) }).catch((error: unknown) => {
      clearTimeout(timer);
      throw error;
    });
    const body = handled.response.body as Readable | undefined;
    if (deadline === undefined || !(body instanceof Readable)) {
      clearTimeout(timer);
      return handled;
    }
    // The deadline covers the body too: one that trickles ends with an error a reader does not resume.
    const end = (): void => void body.destroy(Object.assign(new Error(message), { name: REQUEST_DEADLINE_ERROR }));
    deadline.signal.addEventListener('abort', end, { once: true });
    body.once('close', () => {
      clearTimeout(timer);
      deadline.signal.removeEventListener('abort', end);
    });
    return handled;
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
