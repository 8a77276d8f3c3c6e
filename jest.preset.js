// Shared jest settings: every project's jest.config.js spreads this object.
const path = require('node:path');

const root = __dirname;

module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  // Tests run against the sources of sibling packages, so a test run never needs a stale build.
  moduleNameMapper: {
    '^@regionstore/([a-z-]+)$': path.join(root, 'packages/$1/src/index.ts'),
  },
  setupFiles: [path.join(root, 'tools/jest/setup.js')],
  reporters: ['default', path.join(root, 'tools/jest/summary-reporter.js')],
  testTimeout: 30000,
};
