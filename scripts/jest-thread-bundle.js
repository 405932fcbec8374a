// Jest's globalSetup: bundles the local engine's Lambda thread from src/ (as dist/ is bundled, but
// from the sources of this run) and points the engine at it (src/local/lambda-pool.ts). Each Lambda
// environment a test starts then loads one bundle (and a few small chunks) instead of the .ts module graph.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default async function bundleLambdaThread() {
  // One directory per run: parallel runs in one checkout never load each other's half-written bundle.
  const outdir = path.join(root, '.tmp/jest', `lambda-thread-${process.pid}`);
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { 'lambda-thread': path.join(root, 'src/local/lambda-thread.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    // What a thread imports only when it needs it (S3's SDK, for a run over S3) goes to a chunk of its
    // own, so a thread of a local run neither evaluates nor parses it (dist/ keeps one file: bundle.js).
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    external: ['esbuild'],
    banner: { js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  process.env.SFN_FANOUT_TEST_THREAD = path.join(outdir, 'lambda-thread.mjs');
}
