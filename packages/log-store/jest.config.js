module.exports = { ...require('../../jest.preset.js'), displayName: 'log-store' };
