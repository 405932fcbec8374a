// Fails when dist/ differs from what `npm run build` just produced: the committed bundle must be current.
import { execFileSync } from 'node:child_process';

const changed = execFileSync('git', ['status', '--porcelain', '--', 'dist/'], { encoding: 'utf8' }).trim();
if (changed !== '') {
  console.error(`dist/ is stale; run \`npm run build\` and commit dist/:\n${changed}`);
  process.exit(1);
}
console.log('dist/ is current.');
