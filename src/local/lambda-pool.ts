import { Worker } from 'node:worker_threads';
import { LambdaFunctionError, type SerializedError } from '../lambda-error.ts';
import type { LocalFunction } from './template-definition.ts';

// Sources run as .ts on Node 24; the bundle keeps its thread entry beside itself in dist/.
const THREAD_FILE = import.meta.url.endsWith('.ts') ? './lambda-thread.ts' : './lambda-thread.js';

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

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError } | { ready: true };

/** A worker thread standing in for one Lambda execution environment. */
class Environment {
  readonly thread: Worker;
  current: Invocation | undefined;
  timer: NodeJS.Timeout | undefined;
  stopping = false;
  /** Settled once the thread has loaded its modules (Lambda's init phase). */
  readonly ready: Promise<void>;
  markReady: () => void = () => {};

  constructor(env: Readonly<Record<string, string>>) {
    this.thread = new Worker(new URL(THREAD_FILE, import.meta.url), { env: { ...process.env, ...env } });
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }
}

export interface LambdaPoolOptions {
  /** Environments running at once: the local stand-in for Lambda concurrency. */
  readonly size: number;
  /** Extra environment variables every function sees (handler path, S3 endpoint). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Runs Lambda handlers in worker threads, so partitions really run in parallel on all cores.
 * Like Lambda, an environment runs one invocation at a time, a function's Timeout kills it
 * (`Sandbox.Timedout`), and a crashed environment is replaced (`Runtime.ExitError`).
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
    await Promise.all(all.map((environment) => environment.thread.terminate()));
    for (const environment of all) environment.current?.reject(new LambdaFunctionError('Runtime.ExitError', 'The run was stopped.'));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const environment = this.#idle.pop() ?? (this.#busy.size < this.#options.size ? this.#spawn() : undefined);
      if (environment === undefined) return;
      this.#start(environment, this.#queue.shift()!);
    }
  }

  #spawn(): Environment {
    const environment = new Environment(this.#options.env);
    environment.thread.on('message', (reply: Reply) => ('ready' in reply ? environment.markReady() : this.#finish(environment, reply)));
    environment.thread.on('error', (error) => void this.#crash(environment, 'Runtime.ExitError', `The environment crashed: ${error.message}`));
    environment.thread.on('exit', (code) => void this.#crash(environment, 'Runtime.ExitError', `The environment exited with code ${code} before the handler returned.`));
    return environment;
  }

  #start(environment: Environment, invocation: Invocation): void {
    environment.current = invocation;
    this.#busy.add(environment);
    const { fn, limit } = invocation;
    environment.thread.postMessage({ id: invocation.id, module: fn.module, exportName: fn.exportName, event: invocation.event });
    // The limit runs from when the environment is initialised, as Lambda's Timeout excludes its init phase.
    void environment.ready.then(() => {
      if (environment.current !== invocation || environment.stopping) return;
      environment.timer = setTimeout(() => void this.#crash(environment, limit.errorType, limit.message), limit.seconds * 1000);
    });
  }

  #finish(environment: Environment, reply: Exclude<Reply, { ready: true }>): void {
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
    await environment.thread.terminate();
    this.#busy.delete(environment);
    invocation?.reject(new LambdaFunctionError(errorType, message));
    if (!this.#closed) this.#dispatch();
  }
}
