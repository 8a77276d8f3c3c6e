module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'e2e',
  testMatch: ['<rootDir>/e2e/**/*.test.ts'],
  testTimeout: 180_000,
};
