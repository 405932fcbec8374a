import type { LocalProgress } from './local/local-engine.ts';
import { runLocal } from './local/local-engine.ts';
import type { BatchReport } from './report/batch-report.ts';
import type { RunSettings } from './settings.ts';

export interface RunHooks {
  readonly onProgress?: (progress: LocalProgress) => void;
  readonly signal?: AbortSignal;
}

/** Runs a batch on the engine the settings name; the CLI and the action both come through here. */
export function runBatch(settings: RunSettings, hooks: RunHooks = {}): Promise<BatchReport> {
  return runLocal({
    job: settings.job,
    handler: settings.handler,
    ...(settings.template === undefined ? {} : { template: settings.template }),
    parameters: settings.parameters,
    concurrency: settings.concurrency,
    s3: settings.s3,
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
  });
}
