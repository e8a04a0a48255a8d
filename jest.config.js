/** Two projects: broker-free unit tests, and integration tests that need the
 * real local stack (started by scripts/test.sh or `npm run stack:up`). */
const swc = ['@swc/jest', { jsc: { target: 'es2022' } }];
/**
 * hyparquet and hyparquet-writer ship only ES modules: Node (20.19+) loads them
 * through require(esm), Jest's module loader does not (before Node 24.9), so
 * their files are compiled to CommonJS like ours.
 */
const transform = { '^.+\\.ts$': swc, '/node_modules/hyparquet[^/]*/.+\\.js$': swc };
const transformIgnorePatterns = ['/node_modules/(?!hyparquet)'];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
      slowTestThreshold: 60,
    },
  ],
};
