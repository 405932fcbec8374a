// Mutation testing of the data path: `npm run mutate` (scripts/mutate.js), on demand, not in CI.
// It records the scores per module in bench/MUTATION.md.

/** The tests that cover the data path in this process (worker threads would not see a mutant). */
export const DATA_PATH_TESTS = [
  'partition-plan',
  'data-path',
  'exactly-once',
  'run-partition',
  'gzip-size',
  'steps',
  'adaptive',
  'map-mode',
  'handler-api',
  'data-path-edges',
  'partition-units',
];

/**
 * MUTATE_TESTS=partition-plan,data-path: only these of DATA_PATH_TESTS, for a quick pass over a module
 * (its score is then a lower bound: the other tests could only kill more mutants).
 */
const tests = process.env.MUTATE_TESTS === undefined ? DATA_PATH_TESTS : process.env.MUTATE_TESTS.split(',').filter((name) => DATA_PATH_TESTS.includes(name));

export default {
  testRunner: 'jest',
  testRunnerNodeArgs: ['--experimental-vm-modules', '--no-warnings'],
  jest: {
    configFile: 'jest.config.js',
    // No Lambda thread bundle (jest.config.js's globalSetup) for each mutant: these tests run no engine.
    // src/ among the roots: jest finds a test's imports only in its roots, and without it a test that
    // reaches the mutated file through another module (run-partition.test -> segment-lines.ts) is not related.
    config: { roots: ['<rootDir>/__tests__', '<rootDir>/src'], testMatch: tests.map((name) => `**/__tests__/${name}.test.ts`), reporters: [], globalSetup: undefined, globalTeardown: undefined, maxWorkers: 1 },
    // Only the test files that import the mutated file: the others cost a module load each run.
    enableFindRelatedTests: true,
  },
  mutate: ['src/records/**/*.ts', 'src/plan/**/*.ts', 'src/partition/**/*.ts', 'src/handler/merge.ts'],
  coverageAnalysis: 'perTest',
  // The machine has 2 cores shared with others: one test process at a time.
  concurrency: 1,
  // Generous: on a loaded machine a slow run must not count as a timeout (which Stryker scores as detected).
  timeoutMS: 20000,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
