import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type S3Fault = 'slowdown' | 'internal-error' | 'drop-mid-body';

/**
 * An HTTP proxy on loopback in front of s3rver that injects S3 faults into ranged GETs, in the
 * order given: SlowDown (503), InternalError (500), or a connection cut after half the body.
 */
export interface FaultProxy {
  readonly endpoint: string;
  /** Faults still to inject, consumed one per ranged GET. */
  readonly pending: S3Fault[];
  readonly injected: S3Fault[];
  /** Every request that went through, with the body bytes its upstream answer carried. */
  readonly requests: ProxiedRequest[];
  stop(): Promise<void>;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as sent: `/bucket/key?…`. */
  readonly url: string;
  readonly range?: string;
  bytes: number;
}

const ERROR_BODY = {
  slowdown: [503, 'SlowDown', 'Please reduce your request rate.'],
  'internal-error': [500, 'InternalError', 'We encountered an internal error. Please try again.'],
} as const;

export async function startFaultProxy(upstream: string, faults: S3Fault[]): Promise<FaultProxy> {
  const target = new URL(upstream);
  const pending = [...faults];
  const injected: S3Fault[] = [];
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((request, response) => {
    const record: ProxiedRequest = { method: request.method ?? '', url: request.url ?? '', ...(request.headers.range === undefined ? {} : { range: request.headers.range }), bytes: 0 };
    requests.push(record);
    const fault = request.method === 'GET' && request.headers.range !== undefined ? pending.shift() : undefined;
    if (fault === 'slowdown' || fault === 'internal-error') {
      injected.push(fault);
      const [status, code, message] = ERROR_BODY[fault];
      request.resume();
      response.writeHead(status, { 'content-type': 'application/xml' });
      response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`);
      return;
    }
    const forward = http.request(
      { hostname: target.hostname, port: target.port, path: request.url, method: request.method, headers: request.headers },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.on('data', (chunk: Buffer) => void (record.bytes += chunk.length));
        if (fault !== 'drop-mid-body') {
          upstreamResponse.pipe(response);
          return;
        }
        injected.push(fault);
        const length = Number(upstreamResponse.headers['content-length'] ?? 0);
        let sent = 0;
        let cut = false;
        upstreamResponse.on('data', (chunk: Buffer) => {
          if (cut) return;
          const room = Math.max(1, Math.floor(length / 2) - sent);
          sent += Math.min(room, chunk.length);
          if (sent < length / 2 && room >= chunk.length) {
            response.write(chunk);
            return;
          }
          // Half the body has gone out: cut the connection once those bytes are on the wire.
          cut = true;
          upstreamResponse.destroy();
          response.write(chunk.subarray(0, room), () => response.socket?.destroy());
        });
      },
    );
    forward.on('error', () => response.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pending,
    injected,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
