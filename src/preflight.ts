import { availableParallelism } from 'node:os';
import { HandlerModuleError } from './errors.ts';
import { bundleHandler, displayPath, type HandlerBundle } from './handler/bundle.ts';
import { exportsProblem } from './handler/load-handler.ts';
import { assertNativeAddonsRunOn, nativeAddonProblem } from './handler/native-addons.ts';
import { checkHandlerLoads } from './local/check-handler.ts';
import { defaultTemplatePath } from './local/template-definition.ts';
import { checkTemplateParameters, functionArchitecture } from './local/template-parameters.ts';
import { formatBytes } from './report/markdown.ts';
import type { RunSettings } from './settings.ts';

/** Lambda environments (worker threads) per core the local engine starts at most. */
export const LOCAL_THREADS_PER_CORE = 4;

export interface Prepared {
  /** The handler, bundled once for the run: the local engine runs it, the AWS engine zips it. */
  readonly bundle: HandlerBundle;
  /** Local Lambda environments at once, after the cap. */
  readonly concurrency: number;
}

/**
 * What can be checked before any work (planning, deploying, starting threads) is checked here, and a
 * failure is an input error (exit 2): template parameters against the template's limits, the
 * handler bundled (build errors at the user's file and line) and loaded once, native addons
 * against the functions' architecture, and the local concurrency capped.
 */
export async function prepareRun(settings: RunSettings, log: (line: string) => void, now: () => number = Date.now): Promise<Prepared> {
  const templatePath = settings.template ?? defaultTemplatePath();
  await checkTemplateParameters(templatePath, settings.parameters);
  const architecture = await functionArchitecture(templatePath, settings.parameters);

  const started = now();
  const bundle = await bundleHandler(settings.handler, { log });
  const size = [...bundle.files.values()].reduce((sum, data) => sum + data.length, 0);
  log(`Handler ${displayPath(bundle.source)}: bundle ${bundle.sha256.slice(0, 12)}, ${formatBytes(size)}, ${bundle.cached ? 'from the cache' : `built in ${now() - started} ms`}.`);
  for (const warning of bundle.warnings) log(`esbuild warnings for the handler:\n${warning}`);

  if (settings.aws !== undefined) {
    assertNativeAddonsRunOn(bundle.nativeAddons, architecture);
    // Not loaded here: its top level would run with the runner's credentials, not the function's.
    if (!bundle.exports.includes('default')) {
      const problem = exportsProblem(displayPath(bundle.source), bundle.exports.includes('processRecord'), bundle.exports.includes('processPartition'), bundle.exports);
      if (problem !== undefined) throw new HandlerModuleError(problem);
    }
    return { bundle, concurrency: settings.concurrency };
  }
  const problem = nativeAddonProblem(bundle.nativeAddons, architecture);
  if (problem !== undefined) log(`Warning: this run goes on, on this machine, but engine aws would refuse it. ${problem}`);
  await checkHandlerLoads(bundle, log);
  const concurrency = localConcurrency(settings.concurrency, availableParallelism(), Number(settings.parameters.MaxConcurrency ?? 0));
  if (concurrency.note !== undefined) log(concurrency.note);
  return { bundle, concurrency: concurrency.size };
}

/**
 * Each local Lambda environment is a thread with its own heap (1,024 of them took 5 GB), so the
 * count is capped at LOCAL_THREADS_PER_CORE per core. MaxConcurrency only ever lowers it: a
 * Map's iterations wait for a free environment, so a MaxConcurrency of 10,000 starts no more threads.
 */
export function localConcurrency(requested: number, cores: number, maxConcurrency: number): { size: number; note?: string } {
  const cap = LOCAL_THREADS_PER_CORE * cores;
  const notes: string[] = [];
  let size = requested;
  if (requested > cap) {
    size = cap;
    notes.push(`concurrency ${requested} is far above this machine's ${cores} cores: running ${cap} Lambda environments at once (${LOCAL_THREADS_PER_CORE} per core; each is a thread with its own heap).`);
  }
  if (maxConcurrency > size) notes.push(`MaxConcurrency ${maxConcurrency}: the local engine runs at most ${size} partitions at once (concurrency), the rest wait their turn.`);
  return notes.length === 0 ? { size } : { size, note: notes.join(' ') };
}
