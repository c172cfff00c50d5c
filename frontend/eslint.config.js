// ESLint (flat config) for the page: `make lint-js`, part of `make lint`. Rules that catch real
// mistakes, not style: ESLint's recommended set (no-undef against the browser's globals,
// no-unused-vars, unreachable code, duplicate keys...) plus strict equality and const where a
// binding is never reassigned. That every imported name is exported by its module is checked
// by tests/unit/test_page_build.py (ESLint needs a heavy plugin for that).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["dist/", "dist.building/", "node_modules/"] },
  js.configs.recommended,
  {
    // The pages (jobs and dashboard): native ES modules in the browser. supabase.js (UMD) and config.js are classic
    // scripts that set window.supabase and window.JOBS_CONFIG, read through `window.`.
    files: ["app.js", "modules/**/*.js", "dashboard/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      eqeqeq: ["error", "always", { null: "ignore" }],
      "prefer-const": "error",
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_" }],
      "no-implicit-globals": "error",
      "no-shadow": ["error", { builtinGlobals: false }],
      "no-use-before-define": ["error", { functions: false, classes: true, variables: true }],
      "no-var": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-self-compare": "error",
      "no-template-curly-in-string": "error",
      "no-unmodified-loop-condition": "error",
      "no-unreachable-loop": "error",
      "array-callback-return": "error",
      "no-constructor-return": "error",
      "no-promise-executor-return": "error",
    },
  },
  {
    // The config template: a classic script that sets window.JOBS_CONFIG.
    files: ["config.example.js"],
    languageOptions: { sourceType: "script", globals: { ...globals.browser } },
  },
  {
    // This file: Node.
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.node } },
  },
];
