import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LambdaFunctionError, type SerializedError } from '../lambda-error.ts';
import { partitionLabel } from '../partition/outcome.ts';
import { secretsToHandOver } from '../secrets.ts';
import { killProcessTrees } from './process-tree.ts';
import type { LocalFunction } from './template-definition.ts';

/** Lambda's limit on an environment's init phase; locally, the time a new thread may take to load. */
const INIT_LIMIT_MS = 10_000;

// Sources run as .ts on Node 24; the bundle keeps its thread entry beside itself in dist/. The test
// suite names a bundle of these same sources, built when it starts: its threads load in half the time.
const THREAD_URL =
  process.env.SFN_FANOUT_TEST_THREAD !== undefined && import.meta.url.endsWith('.ts')
    ? pathToFileURL(process.env.SFN_FANOUT_TEST_THREAD)
    : new URL(import.meta.url.endsWith('.ts') ? './lambda-thread.ts' : './lambda-thread.js', import.meta.url);

interface Invocation {
  readonly id: number;
  readonly fn: LocalFunction;
  readonly event: unknown;
  readonly limit: TimeLimit;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** How long an invocation may run, and the error it ends with past that. */
interface TimeLimit {
  readonly seconds: number;
  readonly errorType: string;
  readonly message: string;
}

/**
 * The function's Timeout (Lambda's `Sandbox.Timedout`), or the calling Task's shorter TimeoutSeconds
 * (`States.Timeout`; AWS would leave the function running, here it is stopped).
 */
function timeLimit(fn: LocalFunction, taskTimeoutSeconds: number | undefined): TimeLimit {
  if (taskTimeoutSeconds !== undefined && taskTimeoutSeconds < fn.timeoutSeconds) {
    return { seconds: taskTimeoutSeconds, errorType: 'States.Timeout', message: `The Task's TimeoutSeconds (${taskTimeoutSeconds} s) passed before ${fn.logicalId} returned.` };
  }
  return { seconds: fn.timeoutSeconds, errorType: 'Sandbox.Timedout', message: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds` };
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError };

/** What a thread tells the pool besides replies: its code is loaded, or its handler started or reaped a child process. */
type Notice = { ready: true } | { spawned: number } | { exited: number };

/** Longest piece of output without a new line kept back waiting for one. */
const MAX_LINE = 64 * 1024;

/** A worker thread standing in for one Lambda execution environment of one function. */
class Environment {
  readonly thread: Worker;
  readonly fn: LocalFunction;
  current: Invocation | undefined;
  /** The invocation its output is labelled with: the current one, or the last. */
  last: Invocation | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Set once the thread has loaded its code: Lambda's init phase, which a function's Timeout does not count. */
  ready = false;
  /** Set while its thread is being terminated: nothing more is started or reported for it. */
  stopping = false;
  /** Processes its handlers started that have not exited: they end with the environment, as in Lambda. */
  readonly children = new Set<number>();

  constructor(fn: LocalFunction, options: LambdaPoolOptions) {
    this.fn = fn;
    const env = options.environment(fn);
    // Only what the function's Lambda would see: never the runner's own environment. Its console is
    // the pool's to forward, redacted, like Lambda's logs.
    this.thread = new Worker(THREAD_URL, { env, stdout: true, stderr: true });
    // Before any invocation, so before any handler code loads: no handler can see this message.
    const handOver = secretsToHandOver(options.secrets ?? [], env);
    if (handOver.length > 0) this.thread.postMessage({ secrets: handOver });
    for (const stream of [this.thread.stdout, this.thread.stderr]) this.#forward(stream, options.onOutput);
  }

  /** Hands the thread's output on in whole lines, each labelled with the invocation that was running. */
  #forward(stream: Readable, onOutput: LambdaPoolOptions['onOutput']): void {
    let pending = '';
    const emit = (lines: string[]): void => {
      if (lines.length > 0) onOutput({ fn: this.fn, event: this.last?.event, requestId: this.last?.id, lines });
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      while (pending.length > MAX_LINE) {
        lines.push(pending.slice(0, MAX_LINE));
        pending = pending.slice(MAX_LINE);
      }
      emit(lines);
    });
    stream.on('end', () => emit(pending === '' ? [] : [pending]));
  }

  /** Ends the thread, then the processes its handlers started and all below them. */
  async terminate(): Promise<void> {
    await this.thread.terminate();
    killProcessTrees(this.children);
    this.children.clear();
  }
}

/** Lines a Lambda thread printed, with the invocation that was running (the last one, once it ended). */
export interface LambdaOutput {
  readonly fn: LocalFunction;
  readonly event: unknown;
  readonly requestId: number | undefined;
  readonly lines: readonly string[];
}

/** Labels a Lambda's output lines as a log line names its function and request: `[WorkerFunction part-00003] …`. */
export function lambdaLogWriter(log: (lines: string) => void): (output: LambdaOutput) => void {
  return ({ fn, event, requestId, lines }) => {
    const item = (event as { item?: { id?: unknown; split?: string } } | null | undefined)?.item;
    const label = typeof item?.id === 'number' ? `part-${partitionLabel({ id: item.id, split: item.split })}` : `request ${requestId ?? '-'}`;
    log(lines.map((line) => `[${fn.logicalId} ${label}] ${line}`).join('\n'));
  };
}

export interface LambdaPoolOptions {
  /** Environments running at once: the local stand-in for Lambda concurrency. */
  readonly size: number;
  /** The variables of a new execution environment of a function. */
  readonly environment: (fn: LocalFunction) => Record<string, string>;
  /** Secret values the threads redact from what they write and throw; a thread is handed only those it cannot find itself. */
  readonly secrets?: readonly string[];
  /** What the handlers print (console.log, process.stdout, stderr), line by line: Lambda sends it to CloudWatch Logs. */
  readonly onOutput: (output: LambdaOutput) => void;
}

/**
 * Runs Lambda handlers in worker threads, so partitions really run in parallel on all cores.
 * Like Lambda, an environment belongs to one function and runs one invocation at a time, a
 * function's Timeout kills it (`Sandbox.Timedout`), and a crashed environment is replaced
 * (`Runtime.ExitError`).
 */
export class LambdaPool {
  readonly #options: LambdaPoolOptions;
  readonly #idle: Environment[] = [];
  readonly #busy = new Set<Environment>();
  readonly #queue: Invocation[] = [];
  #nextId = 0;
  #closed = false;

  constructor(options: LambdaPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`Pool size must be a positive whole number, not ${options.size}.`);
    this.#options = options;
  }

  /** Invocations running now. */
  get active(): number {
    return this.#busy.size;
  }

  /** Invocations of one Lambda module (worker, partitioner, reducer) running now; queued ones are not. */
  runningOf(module: string): number {
    let running = 0;
    for (const environment of this.#busy) if (environment.current?.fn.module === module) running += 1;
    return running;
  }

  /** Runs `fn` on `event`; `taskTimeoutSeconds` is the calling Task's limit when it has one. */
  invoke(fn: LocalFunction, event: unknown, taskTimeoutSeconds?: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('The Lambda pool is closed.'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, fn, event, limit: timeLimit(fn, taskTimeoutSeconds), resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) pending.reject(new Error('The Lambda pool was closed before this invocation started.'));
    const all = [...this.#idle.splice(0), ...this.#busy];
    this.#busy.clear();
    for (const environment of all) clearTimeout(environment.timer);
    await Promise.all(all.map((environment) => environment.terminate()));
    for (const environment of all) environment.current?.reject(new LambdaFunctionError('Runtime.ExitError', 'The run was stopped.'));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      const environment = this.#takeIdle(next.fn) ?? this.#spawnIfRoom(next.fn);
      if (environment === undefined) return;
      this.#queue.shift();
      this.#start(environment, next);
    }
  }

  #takeIdle(fn: LocalFunction): Environment | undefined {
    const index = this.#idle.findIndex((environment) => environment.fn.logicalId === fn.logicalId);
    return index === -1 ? undefined : this.#idle.splice(index, 1)[0];
  }

  /** A new environment within the pool's size, retiring an idle one of another function if need be, as Lambda reclaims idle environments. */
  #spawnIfRoom(fn: LocalFunction): Environment | undefined {
    if (this.#busy.size + this.#idle.length >= this.#options.size) {
      const spare = this.#idle.shift();
      if (spare === undefined) return undefined;
      spare.thread.removeAllListeners();
      this.#track(spare);
      void spare.terminate();
    }
    const environment = new Environment(fn, this.#options);
    this.#track(environment);
    environment.thread.on('message', (reply: Reply | Notice) => {
      if ('ready' in reply) this.#ready(environment);
      else if ('id' in reply) this.#finish(environment, reply);
    });
    environment.thread.on('error', (error) => void this.#crash(environment, 'Runtime.ExitError', `The environment crashed: ${error.message}`));
    environment.thread.on('exit', (code) => void this.#crash(environment, 'Runtime.ExitError', `The environment exited with code ${code} before the handler returned.`));
    return environment;
  }

  /** Keeps count of the processes an environment's handlers start, also while it is being stopped. */
  #track(environment: Environment): void {
    environment.thread.on('message', (notice: Reply | Notice) => {
      if ('spawned' in notice) environment.children.add(notice.spawned);
      if ('exited' in notice) environment.children.delete(notice.exited);
    });
  }

  #start(environment: Environment, invocation: Invocation): void {
    environment.current = invocation;
    environment.last = invocation;
    this.#busy.add(environment);
    const { fn } = invocation;
    this.#armTimeout(environment, invocation.limit.seconds * 1000 + (environment.ready ? 0 : INIT_LIMIT_MS));
    environment.thread.postMessage({ id: invocation.id, module: fn.module, exportName: fn.exportName, event: invocation.event });
  }

  #armTimeout(environment: Environment, ms: number): void {
    clearTimeout(environment.timer);
    const { limit } = environment.current!;
    environment.timer = setTimeout(() => void this.#crash(environment, limit.errorType, limit.message), ms);
  }

  /** A new environment's code is loaded: its invocation's limit counts from now, as Lambda's Timeout counts from the end of init. */
  #ready(environment: Environment): void {
    environment.ready = true;
    if (environment.current !== undefined && !environment.stopping) this.#armTimeout(environment, environment.current.limit.seconds * 1000);
  }

  #finish(environment: Environment, reply: Reply): void {
    const invocation = environment.current;
    if (invocation === undefined || invocation.id !== reply.id) return;
    clearTimeout(environment.timer);
    environment.current = undefined;
    this.#busy.delete(environment);
    if (!this.#closed) this.#idle.push(environment);
    if (reply.ok) invocation.resolve(reply.result);
    else invocation.reject(new LambdaFunctionError(reply.error.errorType, reply.error.errorMessage, reply.error.trace));
    this.#dispatch();
  }

  /**
   * The environment is lost (timeout, crash): stop its thread, then fail its invocation, and never
   * reuse it. The thread is gone before the failure is reported, so nothing the old invocation
   * still does can race what the state machine runs next (a timed-out partition's halves).
   */
  async #crash(environment: Environment, errorType: string, message: string): Promise<void> {
    if (environment.stopping || (!this.#busy.has(environment) && !this.#idle.includes(environment))) return;
    environment.stopping = true;
    clearTimeout(environment.timer);
    const idleIndex = this.#idle.indexOf(environment);
    if (idleIndex !== -1) this.#idle.splice(idleIndex, 1);
    const invocation = environment.current;
    environment.current = undefined;
    environment.thread.removeAllListeners();
    this.#track(environment);
    await environment.terminate();
    this.#busy.delete(environment);
    // A crash's cause travels through the state machine by name only: say it where Lambda would log it.
    if (errorType === 'Runtime.ExitError' && invocation !== undefined) this.#options.onOutput({ fn: environment.fn, event: invocation.event, requestId: invocation.id, lines: [`${errorType}: ${message}`] });
    invocation?.reject(new LambdaFunctionError(errorType, message));
    if (!this.#closed) this.#dispatch();
  }
}
