import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // after each file: nothing it started is left running into the next, no relay thread stuck
    // or dead (test/file-guard.ts)
    setupFiles: ['test/file-guard.ts'],
    // CI runs four groups at once on 2 cores: tests of 18-25 s there (a CLI process per case, health
    // intervals) ran past 30 s now and then. A hang still fails, at a minute.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Test files run one after another: their endpoints listen on the same simulated host
    // addresses (127.k.c.d), as two vpcepd processes on one host would.
    fileParallelism: false,
    // One worker runs a group's files and keeps its modules between them: each file made afresh
    // re-imported the AWS SDK, fastify and the rest, 51 of main's 273 s run alone (200 s without).
    isolate: false,
  },
});
