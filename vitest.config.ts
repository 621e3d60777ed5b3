import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // e2e suites spawn servers and chmod shared temp trees; keep files isolated.
    pool: 'forks',
  },
});
