import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type * as Esbuild from 'esbuild';
import { HandlerModuleError, errorMessage } from '../errors.ts';

/** The esbuild release sfn-fanout is tested with (package.json pins the same). */
export const ESBUILD_VERSION = '0.28.2';

export type EsbuildApi = Pick<typeof Esbuild, 'build' | 'version'>;

export interface EsbuildSources {
  /** The handler's project: its own esbuild is the second choice. */
  readonly projectDir: string;
  /** Where esbuild is installed when it is found nowhere else. */
  readonly installDir: string;
  readonly log?: (line: string) => void;
  /** Runs npm; a test stands in for it. */
  readonly npm?: (args: readonly string[]) => Promise<void>;
}

/**
 * esbuild runs a native binary, so the committed dist/ bundle leaves it out and finds it here:
 * beside sfn-fanout (after npm ci, or npx), in the handler's project, or else installed once with
 * npm into the cache (an action run from a checkout has no node_modules of its own).
 */
export async function loadEsbuild(sources: EsbuildSources): Promise<EsbuildApi> {
  const failures: string[] = [];
  const attempt = async (where: string, load: () => Promise<unknown>): Promise<EsbuildApi | undefined> => {
    try {
      const loaded = (await load()) as EsbuildApi & { default?: EsbuildApi };
      return typeof loaded.build === 'function' ? loaded : loaded.default;
    } catch (error) {
      failures.push(`${where}: ${errorMessage(error).split('\n')[0]}`);
      return undefined;
    }
  };
  const fromFile = (packageJson: string) => async () => import(/* webpackIgnore: true */ pathToFileURL(createRequire(packageJson).resolve('esbuild')).href);
  const found =
    (await attempt('beside sfn-fanout', () => import(/* webpackIgnore: true */ 'esbuild'))) ??
    (await attempt(`in ${sources.projectDir}`, fromFile(path.join(sources.projectDir, 'package.json')))) ??
    (await attempt(`in ${sources.installDir}`, fromFile(path.join(sources.installDir, 'package.json'))));
  if (found !== undefined) return found;

  sources.log?.(`esbuild is not installed here: installing esbuild@${ESBUILD_VERSION} into ${sources.installDir} (once).`);
  const npm = sources.npm ?? runNpm;
  try {
    await npm(['install', '--prefix', sources.installDir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `esbuild@${ESBUILD_VERSION}`]);
  } catch (error) {
    throw new HandlerModuleError(
      `sfn-fanout bundles the handler with esbuild, which is not installed (${failures.join('; ')}) and could not be installed with npm: ${errorMessage(error)}. ` +
        `Run npm install --save-dev esbuild@${ESBUILD_VERSION} in the handler's project.`,
      { cause: error },
    );
  }
  const installed = await attempt(`in ${sources.installDir}`, fromFile(path.join(sources.installDir, 'package.json')));
  if (installed === undefined) throw new HandlerModuleError(`esbuild was installed into ${sources.installDir} but does not load: ${failures.at(-1)}.`);
  return installed;
}

async function runNpm(args: readonly string[]): Promise<void> {
  await promisify(execFile)('npm', [...args], { shell: process.platform === 'win32', timeout: 300_000 });
}
