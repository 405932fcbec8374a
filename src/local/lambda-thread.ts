import { parentPort } from 'node:worker_threads';
import * as partitioner from '../../lambdas/partitioner.ts';
import * as reducer from '../../lambdas/reducer.ts';
import * as worker from '../../lambdas/worker.ts';
import { serializeError } from '../lambda-error.ts';

/** One Lambda execution environment: runs one invocation at a time, keeps module state between them. */
const modules: Record<string, Record<string, unknown>> = { partitioner, reducer, worker };

export interface InvokeMessage {
  readonly id: number;
  readonly module: string;
  readonly exportName: string;
  readonly event: unknown;
}

parentPort?.on('message', async ({ id, module, exportName, event }: InvokeMessage) => {
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

// Like Lambda's init phase, loading the modules above counts against no invocation's time limit.
parentPort?.postMessage({ ready: true });
