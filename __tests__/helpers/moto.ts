import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * moto (an AWS emulator written by others) on loopback, started once per test file, behind a
 * proxy that records every call as it crosses the wire, can answer what moto cannot do (a Lambda
 * that runs), and can hold a call unanswered (a hung endpoint).
 */

const LAUNCHER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'moto-server.py');
const MISSING = 'moto is not installed for python3, so the AWS emulator tests cannot run: install it with pip install "moto[server]==5.2.1".';

export const ACCOUNT = '123456789012';
export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** One AWS call as it crossed the wire. */
export interface WireCall {
  /** The signing name in the call's credential scope: cloudformation, states, s3, sts, iam. */
  readonly service: string;
  readonly region: string;
  /** The API operation: CreateChangeSet, DescribeExecution, HeadObject, ListObjectsV2, ... */
  readonly operation: string;
  /** Query parameters of query-protocol calls, top-level strings of JSON ones, Bucket/Key/prefix/ExpectedBucketOwner for S3. */
  readonly params: Readonly<Record<string, string>>;
  /** What came back: the status, and the body when it was answered here or is small. */
  status?: number;
  response?: string;
}

export interface Answer {
  readonly status: number;
  /** A JSON body, serialized as Step Functions' JSON protocol does; none when undefined. */
  readonly body?: unknown;
}

export interface Moto {
  /** Where the code under test goes (AWS_ENDPOINT_URL): the recording proxy. */
  readonly endpoint: string;
  /** moto itself, for a test's own setup calls, which are not recorded. */
  readonly direct: string;
  readonly calls: WireCall[];
  /** Answers calls moto cannot serve; a responder returns undefined to pass a call on to moto, and may take its time (a Lambda that runs). */
  answer(responder: Responder): void;
  /** Holds the next matching call unanswered until its caller gives up; resolves when one arrives. */
  hang(predicate: (call: WireCall) => boolean): Promise<WireCall>;
  /** Forgets the answers and hangs (the recorded calls stay). */
  reset(): void;
  stop(): Promise<void>;
}

export type Responder = (call: WireCall) => Answer | undefined | Promise<Answer | undefined>;

let available: boolean | undefined;

export function motoAvailable(): boolean {
  available ??= spawnSync('python3', ['-c', 'import moto, werkzeug, flask'], { stdio: 'ignore' }).status === 0;
  return available;
}

/**
 * A describe block that needs moto. Without it, CI fails the block; elsewhere it is skipped with one
 * line saying what to install.
 */
export function describeWithMoto(name: string, body: () => void): void {
  if (motoAvailable()) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('runs against moto', () => {
        throw new Error(MISSING);
      });
    });
  } else {
    process.stderr.write(`Skipped "${name}": ${MISSING}\n`);
    describe.skip(name, body);
  }
}

export async function startMoto(): Promise<Moto> {
  const child = spawn('python3', [LAUNCHER], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const direct = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`moto did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /moto listening on (http:\/\/\S+)/.exec(stdout);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto exited with ${code}: ${stderr}`));
    });
  });
  const upstream = new URL(direct);
  const calls: WireCall[] = [];
  let responders: Responder[] = [];
  let hangs: { predicate: (call: WireCall) => boolean; arrived: (call: WireCall) => void }[] = [];

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const body = Buffer.concat(chunks);
      const call = describeCall(request, body);
      calls.push(call);
      const hang = hangs.find((candidate) => candidate.predicate(call));
      if (hang !== undefined) {
        hangs = hangs.filter((candidate) => candidate !== hang);
        hang.arrived(call);
        return;
      }
      for (const responder of responders) {
        let answer: Answer | undefined;
        try {
          answer = await responder(call);
        } catch (error) {
          // A responder that fails answers as a server error would, with its message, so the test sees why.
          answer = { status: 500, body: { __type: 'InternalServerError', message: String(error) } };
        }
        if (answer === undefined) continue;
        const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
        call.status = answer.status;
        call.response = text;
        response.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text) });
        response.end(text);
        return;
      }
      const forward = http.request({ hostname: upstream.hostname, port: upstream.port, path: request.url, method: request.method, headers: request.headers }, (upstreamResponse) => {
        const parts: Buffer[] = [];
        upstreamResponse.on('data', (chunk: Buffer) => parts.push(chunk));
        upstreamResponse.on('end', () => {
          const answered = Buffer.concat(parts);
          call.status = upstreamResponse.statusCode;
          if (answered.length < 64 * 1024) call.response = answered.toString();
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          response.end(answered);
        });
      });
      forward.on('error', (error) => response.destroy(error));
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    direct,
    calls,
    answer(responder) {
      responders.push(responder);
    },
    hang(predicate) {
      return new Promise((arrived) => hangs.push({ predicate, arrived }));
    },
    reset() {
      responders = [];
      hangs = [];
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const exited = new Promise<void>((resolve) => (child.exitCode === null ? child.once('exit', () => resolve()) : resolve()));
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Reads a call's service, operation and parameters from the request, as AWS would route it. */
function describeCall(request: http.IncomingMessage, body: Buffer): WireCall {
  const scope = /Credential=[^/]+\/\d+\/([^/]+)\/([^/]+)\//.exec(request.headers.authorization ?? '');
  const region = scope?.[1] ?? '?';
  const service = scope?.[2] ?? '?';
  const url = new URL(request.url ?? '/', 'http://localhost');
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') {
    const json = body.length === 0 ? {} : (JSON.parse(body.toString()) as Record<string, unknown>);
    const params = Object.fromEntries(Object.entries(json).filter(([, value]) => typeof value === 'string')) as Record<string, string>;
    return { service, region, operation: target.split('.').at(-1)!, params };
  }
  if (service === 's3') {
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    const key = decodeURIComponent(rest.join('/'));
    const query = Object.fromEntries(url.searchParams);
    const operation =
      key === ''
        ? request.method === 'GET' && query['list-type'] === '2'
          ? 'ListObjectsV2'
          : `${request.method}Bucket`
        : ({ HEAD: 'HeadObject', GET: 'GetObject', PUT: 'PutObject', DELETE: 'DeleteObject' } as Record<string, string>)[request.method ?? ''] ?? `${request.method}Object`;
    const owner = request.headers['x-amz-expected-bucket-owner'];
    return { service, region, operation, params: { Bucket: bucket, ...(key === '' ? {} : { Key: key }), ...(query.prefix === undefined ? {} : { prefix: query.prefix }), ...(typeof owner === 'string' ? { ExpectedBucketOwner: owner } : {}) } };
  }
  // Lambda's REST API names its operation by method and path.
  if (service === 'lambda' && request.method === 'GET' && /\/account-settings\/?$/.test(url.pathname)) return { service, region, operation: 'GetAccountSettings', params: {} };
  const params = Object.fromEntries(new URLSearchParams(body.toString()));
  return { service, region, operation: params.Action ?? '?', params };
}

/** Sets (a string) or removes (undefined) environment variables; the returned function puts them back. */
export function setEnv(values: Readonly<Record<string, string | undefined>>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const apply = (next: Readonly<Record<string, string | undefined>>) => {
    for (const [name, value] of Object.entries(next)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  };
  apply(values);
  return () => apply(saved);
}

/**
 * Points the SDK's default clients (the ones the CLI builds) at the proxy, with test credentials,
 * until the returned function puts the environment back.
 */
export function useMoto(moto: Moto): () => void {
  return setEnv({
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_REGION: undefined,
    AWS_DEFAULT_REGION: undefined,
  });
}
