import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Readable } from 'node:stream';
import { regionOf, S3_TIMEOUTS, type S3ClientOptions, type S3Settings } from './open-store.ts';
import { REQUEST_DEADLINE_ERROR } from './s3-store.ts';

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
