import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: integration files each run servers, workers and queues; keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
