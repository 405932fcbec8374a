/** The Node.js sfn-fanout runs on: what GitHub runs actions with (node24) and Lambda's nodejs24.x. */
export const REQUIRED_NODE_MAJOR = 24;

/**
 * One line saying why this Node.js cannot run sfn-fanout, or undefined. On Node 20 the local engine
 * otherwise fails deep inside a worker thread ("Promise.withResolvers is not a function") and the
 * run reports only a crashed Lambda environment.
 */
export function nodeVersionProblem(version: string = process.version): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? 0);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  return `sfn-fanout needs Node.js ${REQUIRED_NODE_MAJOR} or later, and this is ${version}: run it as npx sfn-fanout after npm ci (which installs Node.js ${REQUIRED_NODE_MAJOR} for the project), or install Node.js ${REQUIRED_NODE_MAJOR}.`;
}
