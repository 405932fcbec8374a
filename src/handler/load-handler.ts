import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandlerModuleError, errorMessage } from '../errors.ts';
import type { PartitionHandler, RecordHandler } from './api.ts';
import type { UserMerge } from '../partition/reduce.ts';

/** A checked handler module; `merge` is its own merge, undefined when the reducer's default merge applies. */
export type LoadedHandler =
  | { readonly kind: 'record'; readonly handler: RecordHandler; readonly merge: UserMerge | undefined }
  | { readonly kind: 'partition'; readonly handler: PartitionHandler; readonly merge: UserMerge | undefined };

/** Imports the user's handler module (named exports or a default-exported object) and checks its shape. */
export async function loadHandler(modulePath: string): Promise<LoadedHandler> {
  const file = path.resolve(modulePath);
  if (!existsSync(file)) {
    throw new HandlerModuleError(`Handler module ${file} does not exist: check the handler path (relative paths start from the working directory).`);
  }
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(/* webpackIgnore: true */ pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new HandlerModuleError(`Handler module ${file} failed to load: ${errorMessage(error)}`, { cause: error });
  }
  return checkHandler(loaded, file);
}

export function checkHandler(loaded: Record<string, unknown>, file: string): LoadedHandler {
  const exports = (typeof loaded.default === 'object' && loaded.default !== null ? loaded.default : loaded) as Record<string, unknown>;
  const has = (name: string): boolean => typeof exports[name] === 'function';
  for (const name of ['init', 'processRecord', 'finish', 'processPartition', 'merge']) {
    if (exports[name] !== undefined && !has(name)) {
      throw new HandlerModuleError(`Handler module ${file} exports "${name}" but it is a ${typeof exports[name]}, not a function.`);
    }
  }
  const problem = exportsProblem(file, has('processRecord'), has('processPartition'), Object.keys(exports));
  if (problem !== undefined) throw new HandlerModuleError(problem);
  const merge = has('merge') ? (exports.merge as UserMerge) : undefined;
  return has('processRecord')
    ? { kind: 'record', handler: exports as unknown as RecordHandler, merge }
    : { kind: 'partition', handler: exports as unknown as PartitionHandler, merge };
}

/** Why a module with these exports is no handler; undefined when it is one. */
export function exportsProblem(file: string, processRecord: boolean, processPartition: boolean, found: readonly string[]): string | undefined {
  if (processRecord && processPartition) return `Handler module ${file} exports both processRecord and processPartition: export one of them.`;
  if (!processRecord && !processPartition) {
    return `Handler module ${file} exports nothing usable: export a processRecord(state, record, context) or a processPartition(records, context) function (exports found: ${found.join(', ') || 'none'}).`;
  }
  return undefined;
}
