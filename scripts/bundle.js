// Bundles the compiled lib/ into dist/ with ncc: the action, the CLI and the local engine's
// Lambda thread, side by side, so each finds the others by a relative path. A dynamic import would
// become a chunk file beside its entry, and chunks of two entries can share a name: keep none.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, readdirSync } from 'node:fs';
import path from 'node:path';

const entries = {
  index: 'lib/src/index.js',
  post: 'lib/src/post.js',
  cli: 'lib/src/bin/cli.js',
  'lambda-thread': 'lib/src/local/lambda-thread.js',
  // What the AWS engine zips for the stack's functions.
  'lambdas/partitioner': 'lib/lambdas/partitioner.js',
  'lambdas/worker': 'lib/lambdas/worker.js',
  'lambdas/reducer': 'lib/lambdas/reducer.js',
};
const staging = '.tmp/bundle';
rmSync(staging, { recursive: true, force: true });
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/lambdas', { recursive: true });
for (const [name, entry] of Object.entries(entries)) {
  const out = path.join(staging, name);
  // esbuild runs a native binary and cannot be bundled: it is found at run time (src/handler/load-esbuild.ts).
  execFileSync('ncc', ['build', entry, '-o', out, '--quiet', '--target', 'es2022', '--license', 'licenses.txt', '--external', 'esbuild'], { stdio: 'inherit' });
  for (const file of readdirSync(out)) {
    if (/^\d+\.index\.js$/.test(file)) throw new Error(`${entry} made a chunk ${file} (a dynamic import ncc bundled): make the import static or external.`);
    const target = file === 'index.js' ? `${name}.js` : file === 'licenses.txt' ? `${name}.licenses.txt` : path.join(path.dirname(name), file);
    cpSync(path.join(out, file), path.join('dist', target), { recursive: true });
  }
}
rmSync(staging, { recursive: true, force: true });
