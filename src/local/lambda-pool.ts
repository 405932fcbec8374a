import { Worker } from 'node:worker_threads';
import { LambdaFunctionError, type SerializedError } from '../lambda-error.ts';
import type { LocalFunction } from './template-definition.ts';

// Sources run as .ts on Node 24; the bundle keeps its thread entry beside itself in dist/.
const THREAD_FILE = import.meta.url.endsWith('.ts') ? './lambda-thread.ts' : './lambda-thread.js';

interface Invocation {
  readonly id: number;
  readonly fn: LocalFunction;
  readonly event: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError };

/** A worker thread standing in for one Lambda execution environment. */
class Environment {
  readonly thread: Worker;
  current: Invocation | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(env: Readonly<Record<string, string>>) {
    this.thread = new Worker(new URL(THREAD_FILE, import.meta.url), { env: { ...process.env, ...env } });
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

  invoke(fn: LocalFunction, event: unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('The Lambda pool is closed.'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, fn, event, resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) pending.reject(new Error('The Lambda pool was closed before this invocation started.'));
    const all = [...this.#idle.splice(0), ...this.#busy];
    this.#busy.clear();
    for (const environment of all) {
      clearTimeout(environment.timer);
      environment.current?.reject(new LambdaFunctionError('Runtime.ExitError', 'The run was stopped.'));
    }
    await Promise.all(all.map((environment) => environment.thread.terminate()));
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
    environment.thread.on('message', (reply: Reply) => this.#finish(environment, reply));
    environment.thread.on('error', (error) => this.#crash(environment, 'Runtime.ExitError', `The environment crashed: ${error.message}`));
    environment.thread.on('exit', (code) => this.#crash(environment, 'Runtime.ExitError', `The environment exited with code ${code} before the handler returned.`));
    return environment;
  }

  #start(environment: Environment, invocation: Invocation): void {
    environment.current = invocation;
    this.#busy.add(environment);
    const { fn } = invocation;
    environment.timer = setTimeout(() => {
      this.#crash(environment, 'Sandbox.Timedout', `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`);
    }, fn.timeoutSeconds * 1000);
    environment.thread.postMessage({ id: invocation.id, module: fn.module, exportName: fn.exportName, event: invocation.event });
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

  /** The environment is lost (timeout, crash): fail its invocation and never reuse it. */
  #crash(environment: Environment, errorType: string, message: string): void {
    if (!this.#busy.has(environment) && !this.#idle.includes(environment)) return;
    clearTimeout(environment.timer);
    this.#busy.delete(environment);
    const idleIndex = this.#idle.indexOf(environment);
    if (idleIndex !== -1) this.#idle.splice(idleIndex, 1);
    const invocation = environment.current;
    environment.current = undefined;
    environment.thread.removeAllListeners();
    void environment.thread.terminate();
    invocation?.reject(new LambdaFunctionError(errorType, message));
    if (!this.#closed) this.#dispatch();
  }
}
