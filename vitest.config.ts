import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // after each file: no relay thread stuck or dead, no connection left in the native relay
    setupFiles: ['test/relay-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Test files run one after another: their endpoints listen on the same simulated host
    // addresses (127.k.c.d), as two vpcepd processes on one host would.
    fileParallelism: false,
    // One worker runs a group's files and keeps its modules between them: each file made afresh
    // re-imported the AWS SDK, fastify and the rest, 51 of main's 273 s run alone (200 s without).
    isolate: false,
  },
});
