import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The conformance suites take vitest from the user's project.
  external: ['vitest'],
  // p-limit is ESM-only; bundling it keeps the CommonJS build loadable with require().
  noExternal: ['p-limit', 'yocto-queue'],
});
