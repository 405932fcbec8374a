import path from 'node:path';
import { HandlerModuleError } from '../errors.ts';
import type { HandlerBundle } from '../handler/bundle.ts';
import { causeMessage } from '../lambda-error.ts';
import { LambdaPool, lambdaLogWriter } from './lambda-pool.ts';
import type { LocalFunction } from './template-definition.ts';

export const CHECK_HANDLER_MODULE = 'sfn-fanout-check-handler';

const CHECK: LocalFunction = { logicalId: 'HandlerCheck', module: CHECK_HANDLER_MODULE, exportName: 'handler', timeoutSeconds: 60, memoryMb: 0, runtime: 'nodejs24.x', environment: {} };

/**
 * Loads the bundled handler in a worker thread, as a Lambda environment would, and checks its
 * exports: a module that throws on load, or exports nothing usable, fails before any planning. A
 * handler with native addons is loaded in a second thread too, as the run's threads will.
 * A thread, not this process, so whatever the module starts (timers, sockets) ends with it.
 */
export async function checkHandlerLoads(bundle: HandlerBundle, log: (lines: string) => void): Promise<'record' | 'partition'> {
  try {
    const kind = await loadInThread(bundle, log);
    if (bundle.nativeAddons.length > 0) await loadInThread(bundle, log);
    return kind;
  } catch (error) {
    throw notContextAware(bundle, error) ?? error;
  }
}

/**
 * An addon that is not context-aware registers itself once per process: every thread after the
 * first fails with "Module did not self-register". Lambda runs one process per environment, the
 * local engine one thread each: such a handler cannot run here, and is refused before any work.
 */
function notContextAware(bundle: HandlerBundle, error: unknown): HandlerModuleError | undefined {
  if (!/did not self-register/.test((error as Error).message)) return undefined;
  const addons = bundle.nativeAddons.length === 0 ? 'a native addon' : `a native addon (${bundle.nativeAddons.map((addon) => addon.name).join(', ')})`;
  return new HandlerModuleError(
    `Handler module ${bundle.source} loads ${addons} that cannot be loaded in more than one thread ("Module did not self-register": it is not context-aware). The local engine runs each Lambda environment as a worker thread of one process, so it cannot run this handler: use a context-aware version of the addon (N-API, or NODE_MODULE_INIT), or run with engine aws.`,
    { cause: error },
  );
}

async function loadInThread(bundle: HandlerBundle, log: (lines: string) => void): Promise<'record' | 'partition'> {
  // Only the handler's path: its top level never sees the runner's environment (tokens, credentials). What it prints goes where the run's Lambdas' output goes.
  const pool = new LambdaPool({ size: 1, environment: () => ({ SFN_FANOUT_HANDLER: bundle.file }), onOutput: lambdaLogWriter(log) });
  try {
    return (await pool.invoke(CHECK, null)) as 'record' | 'partition';
  } catch (error) {
    // A file read beside the bundle is not there, as in Lambda: renamed to the project, it would name a file that exists.
    const missing = new RegExp(`ENOENT[^']*'(${escapeRegExp(bundle.dir + path.sep)}[^']+)'`).exec((error as Error).message)?.[1];
    if (missing !== undefined) {
      const file = path.relative(bundle.dir, missing);
      throw new HandlerModuleError(
        `Handler module ${bundle.source} failed to load: it reads ${file} beside its module, which is not in the bundle (nor in the code zip): only what the handler imports is bundled. Import the file (a JSON import is bundled), or read it from the input.`,
        { cause: error },
      );
    }
    // Say it in the user's terms: their file, and source-mapped paths below their project.
    const message = causeMessage((error as Error).message)
      .replaceAll(bundle.file, bundle.source)
      .replaceAll(bundle.dir + path.sep, bundle.projectDir + path.sep);
    throw new HandlerModuleError(message.startsWith('Handler module') ? message : `Handler module ${bundle.source} failed to load: ${message}`, { cause: error });
  } finally {
    await pool.close();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
