/** ESM TypeScript under ts-jest; sources import each other with `.ts` extensions (Node 24 runs them as is). */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testTimeout: 60000,
  // Two test files at once: most of a file's time is spent waiting (emulators, child processes,
  // Lambda timeouts), so two cores run two files in about the time of one and a half.
  maxWorkers: 2,
  globalSetup: '<rootDir>/scripts/jest-thread-bundle.js',
  globalTeardown: '<rootDir>/scripts/jest-thread-bundle-teardown.js',
  reporters: ['default', '<rootDir>/scripts/jest-closing-line.js'],
};
