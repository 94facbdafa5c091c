import { defineConfig } from 'vitest/config';

// One run covers every package. In CI a JSON report is written as well, so .ci/run can print
// the pass/fail counts from the runner's own report.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'release/test/**/*.test.ts'],
    testTimeout: 60_000,
    // One file at a time: the adapter suites start worker processes and measure rates and
    // lateness, which CPU contention from parallel files on a 2-core machine would distort.
    fileParallelism: false,
    hookTimeout: 60_000,
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]]
      : ['default'],
  },
});
