import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from './corpus.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const execute = promisify(execFile);

export interface ActionRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly summary: string;
  /** GITHUB_OUTPUT's raw text. */
  readonly outputFile: string;
  readonly work: string;
}

/**
 * Runs dist/index.js as the runner does: INPUT_* variables, and GITHUB_STEP_SUMMARY and GITHUB_OUTPUT
 * files. `actionDir` is the checkout of the action (the repository, or a copy of what it commits).
 */
export async function runBundledAction(inputs: Record<string, string>, env: Record<string, string> = {}, actionDir = root): Promise<ActionRun> {
  return runAction('dist/index.js', inputs, env, actionDir);
}

/** Runs the action's entry the runner's way: `dist/index.js`, or `src/index.ts`, which Node 24 runs as it is. */
export async function runAction(entry: string, inputs: Record<string, string>, env: Record<string, string> = {}, actionDir = root): Promise<ActionRun> {
  const work = await tempDir();
  const summaryFile = path.join(work, 'summary.md');
  const outputFile = path.join(work, 'output.txt');
  await writeFile(summaryFile, '');
  await writeFile(outputFile, '');
  const variables = {
    PATH: process.env.PATH,
    RUNNER_TEMP: work,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_OUTPUT: outputFile,
    ...env,
    ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])),
  };
  const result = await execute(process.execPath, [path.join(actionDir, entry)], { env: variables, cwd: actionDir }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
  return { ...result, summary: await readFile(summaryFile, 'utf8'), outputFile: await readFile(outputFile, 'utf8'), work };
}
