// The linter the tests run (scripts/test.sh): ESLint's and typescript-eslint's
// recommended rules; formatting is Prettier's job (.prettierrc.json).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.stack*/', '.state/', 'coverage/', 'bench/anchors/target/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], languageOptions: { globals: globals.node } },
  {
    rules: {
      // `_`-prefixed parameters document an interface's argument a body does not need.
      // prom-client calls a gauge's collect() with `this` bound to the gauge, so the owner is named once.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['server', 'metrics', 'task'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
);
