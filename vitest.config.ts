import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/tmpdir.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // tfjs backends are process-global; run test files in separate forks so one file's backend
    // choice cannot leak into another's.
    pool: 'forks',
    maxWorkers: 2,
  },
});
