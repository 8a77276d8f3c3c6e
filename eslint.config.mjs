import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers, bottom up. A package may import `@regionstore/*` packages of lower layers only (and
 * itself); nothing imports an app. Tests may also import `@regionstore/testing` (and TEST_EXTRAS). A wrong-way import
 * fails `npm run lint` (test/e2e/layers.test.ts shows it).
 */
export const LAYERS = [
  ['core'],
  ['runtime', 'protocol', 'storage-backends', 'jobs'],
  ['log-store', 'engine', 'http', 'client', 'testing'],
  ['region-files'],
  ['region-runner'],
  ['worker-group', 'backup', 'supervisor'],
  ['cli', 'metasrv', 'storage-node'],
];
const APPS = new Set(LAYERS.at(-1));
const rank = new Map(LAYERS.flatMap((layer, i) => layer.map((name) => [name, i])));

/** `no-restricted-imports` for one package's files: every package at or above its layer. */
function layerRule(name, extraAllowed = []) {
  const forbidden = [...rank.keys()].filter(
    (other) => other !== name && rank.get(other) >= rank.get(name) && !extraAllowed.includes(other),
  );
  const message = `layering: ${name} (layer ${rank.get(name)}) may import only lower layers; see LAYERS in eslint.config.mjs`;
  return [
    'error',
    {
      patterns: [
        {
          group: forbidden.flatMap((other) => [`@regionstore/${other}`, `@regionstore/${other}/*`]),
          message,
        },
      ],
    },
  ];
}

/** What a package's tests may use besides lower layers: the client's fake node is an http server. */
const TEST_EXTRAS = { client: ['http'] };

const layerConfigs = [...rank.keys()].flatMap((name) => {
  const dir = APPS.has(name) ? `apps/${name}` : `packages/${name}`;
  const testExtras = ['testing', ...(TEST_EXTRAS[name] ?? [])];
  return [
    { files: [`${dir}/src/**/*.ts`], rules: { 'no-restricted-imports': layerRule(name) } },
    { files: [`${dir}/test/**/*.ts`], rules: { 'no-restricted-imports': layerRule(name, testExtras) } },
  ];
});

/**
 * SPEC §7: log lines name ids `nodeId`, `regionId`, `jobId`. A line that says `region` instead would
 * drop out of every search for a region's lines.
 */
const logFields = {
  files: ['apps/*/src/**/*.ts', 'packages/*/src/**/*.ts'],
  rules: {
    'no-restricted-syntax': [
      'error',
      {
        selector:
          'CallExpression[callee.property.name=/^(fatal|error|warn|info|debug|trace)$/] > ObjectExpression > Property[key.name=/^(region|node|job)$/]',
        message: 'log fields name ids as nodeId, regionId and jobId (SPEC §7); a job name is jobName',
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/test/**/*.ts', 'packages/testing/src/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } },
  },
  ...layerConfigs,
  logFields,
  prettier,
);
