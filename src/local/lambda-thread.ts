import { ChildProcess } from 'node:child_process';
import { parentPort } from 'node:worker_threads';
import * as partitioner from '../../lambdas/partitioner.ts';
import * as reducer from '../../lambdas/reducer.ts';
import * as worker from '../../lambdas/worker.ts';
import { serializeError } from '../lambda-error.ts';
import { acceptHandedOverSecrets } from '../secrets.ts';
import { handlerFromEnv } from '../steps/steps.ts';
import { CHECK_HANDLER_MODULE } from './check-handler.ts';

// Stack traces from the user's bundle name their own files and lines, as NODE_OPTIONS=--enable-source-maps does in Lambda.
process.setSourceMapsEnabled(true);

/** Not a Lambda: loads the user's handler once, so a module that cannot load fails the run before any work. */
const handlerCheck = { handler: async () => (await handlerFromEnv()()).kind };

/** One Lambda execution environment: runs one invocation at a time, keeps module state between them. */
const modules: Record<string, Record<string, unknown>> = { partitioner, reducer, worker, [CHECK_HANDLER_MODULE]: handlerCheck };

export interface InvokeMessage {
  readonly id: number;
  readonly module: string;
  readonly exportName: string;
  readonly event: unknown;
}

/**
 * Every process a handler starts (spawn, exec, execFile, fork) is reported to the pool, and its
 * exit too, so the pool can end those still running with the environment, as Lambda does.
 */
const startProcess = (ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown }).spawn;
(ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown }).spawn = function (this: ChildProcess, ...args: unknown[]): unknown {
  const started = startProcess.apply(this, args);
  const { pid } = this;
  if (pid !== undefined) {
    parentPort?.postMessage({ spawned: pid });
    this.once('exit', () => parentPort?.postMessage({ exited: pid }));
  }
  return started;
};

parentPort?.on('message', async (message: InvokeMessage | { secrets: unknown }) => {
  // The engine's first message, taken before any invocation loads handler code.
  if ('secrets' in message) return acceptHandedOverSecrets(message.secrets);
  const { id, module, exportName, event } = message;
  try {
    const handler = modules[module]?.[exportName];
    if (typeof handler !== 'function') {
      throw Object.assign(new Error(`Cannot find ${module}.${exportName}: the local engine runs sfn-fanout's lambdas (${Object.keys(modules).join(', ')}).`), { name: 'Runtime.HandlerNotFound' });
    }
    const result: unknown = await handler(event, { functionName: module, awsRequestId: String(id) });
    // Lambda returns JSON: undefined becomes null, and non-JSON values fail here as they would there.
    parentPort!.postMessage({ id, ok: true, result: JSON.parse(JSON.stringify(result ?? null)) });
  } catch (error) {
    parentPort!.postMessage({ id, ok: false, error: serializeError(error) });
  }
});

// Init is over: the pool starts counting the invocation's Timeout from here, as Lambda does.
parentPort?.postMessage({ ready: true });
