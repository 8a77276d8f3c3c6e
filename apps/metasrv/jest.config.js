const preset = require('../../jest.preset.js');

// Bull Board's static file server loads content-disposition 3, an ES module jest cannot require:
// compile just that package to CommonJS (the built app loads it through Node's require(esm)).
const esmOnly = ['content-disposition'];

module.exports = {
  ...preset,
  displayName: 'metasrv',
  transform: {
    ...preset.transform,
    [`/node_modules/(.*/)?(${esmOnly.join('|')})/.+\\.js$`]: [
      '@swc/jest',
      { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(.*/)?(${esmOnly.join('|')})/)`],
};
