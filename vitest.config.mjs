import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Native addons and worker threads: one process per test file keeps them apart.
    pool: 'forks',
  },
});
