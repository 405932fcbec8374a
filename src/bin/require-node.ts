import { nodeVersionProblem } from '../node-version.ts';

// Imported first by the CLI, so it runs before any other module: on an old Node, one line and exit 2.
const problem = nodeVersionProblem();
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
