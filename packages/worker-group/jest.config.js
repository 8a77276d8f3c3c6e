module.exports = { ...require('../../jest.preset.js'), displayName: 'worker-group' };
