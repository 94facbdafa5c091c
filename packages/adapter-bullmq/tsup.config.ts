import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // BullMQ (and the ioredis it brings) is a peer dependency: the user's copy is used.
  external: ['bullmq'],
});
