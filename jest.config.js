/** ESM TypeScript under ts-jest; sources import each other with `.ts` extensions (Node 24 runs them as is). */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testTimeout: 60000,
  globalSetup: '<rootDir>/scripts/jest-thread-bundle.js',
  globalTeardown: '<rootDir>/scripts/jest-thread-bundle-teardown.js',
  reporters: ['default', '<rootDir>/scripts/jest-closing-line.js'],
};
