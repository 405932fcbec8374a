import path from 'node:path';
import { HandlerModuleError } from '../errors.ts';
import type { HandlerBundle } from '../handler/bundle.ts';
import { causeMessage } from '../lambda-error.ts';
import { LambdaPool, lambdaLogWriter } from './lambda-pool.ts';
import type { LocalFunction } from './template-definition.ts';

export const CHECK_HANDLER_MODULE = 'sfn-fanout-check-handler';

const CHECK: LocalFunction = { logicalId: 'HandlerCheck', module: CHECK_HANDLER_MODULE, exportName: 'handler', timeoutSeconds: 60, memoryMb: 0, runtime: 'nodejs24.x', environment: {} };

/**
 * Loads the bundled handler once in a worker thread, as a Lambda environment would, and checks its
 * exports: a module that throws on load, or exports nothing usable, fails before any planning.
 * A thread, not this process, so whatever the module starts (timers, sockets) ends with it.
 */
export async function checkHandlerLoads(bundle: HandlerBundle, log: (lines: string) => void): Promise<'record' | 'partition'> {
  // Only the handler's path: its top level never sees the runner's environment (tokens, credentials). What it prints goes where the run's Lambdas' output goes.
  const pool = new LambdaPool({ size: 1, environment: () => ({ SFN_FANOUT_HANDLER: bundle.file }), onOutput: lambdaLogWriter(log) });
  try {
    return (await pool.invoke(CHECK, null)) as 'record' | 'partition';
  } catch (error) {
    // Say it in the user's terms: their file, and source-mapped paths below their project.
    const message = causeMessage((error as Error).message)
      .replaceAll(bundle.file, bundle.source)
      .replaceAll(bundle.dir + path.sep, bundle.projectDir + path.sep);
    throw new HandlerModuleError(message.startsWith('Handler module') ? message : `Handler module ${bundle.source} failed to load: ${message}`, { cause: error });
  } finally {
    await pool.close();
  }
}
