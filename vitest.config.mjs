import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A hang guard, not a speed check (timed assertions never go in tests): the heaviest tests
    // (setThreads(1..4) over multi-block sizes) take over a minute on a busy 2-core machine.
    testTimeout: 300_000,
    // Native addons and worker threads: one process per test file keeps them apart.
    pool: 'forks',
  },
});
