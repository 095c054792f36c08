import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // CI also writes a JSON report, from which .ci/run prints a plain
    // "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Before any test imports kafkajs (src/kafka/kafkajs-patches.ts).
          setupFiles: ['test/support/kafkajs-fix.ts'],
          // The CLI tests spawn dist/cli/main.js: built first when a source is newer.
          globalSetup: ['test/support/build-dist.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Before any test imports kafkajs: test readers check exactly-once
          // results read_committed (src/kafka/kafkajs-patches.ts). Then
          // each file's test schema registry is closed after it.
          setupFiles: ['test/support/kafkajs-fix.ts', 'test/support/registry-teardown.ts'],
          // One stack for the whole run: services are found or started once.
          // dist/ built first when a source is newer: spawned daemons run it.
          globalSetup: ['test/support/build-dist.ts', 'test/support/global-setup.ts'],
          // The suites share one Postgres/Kafka/ClickHouse; run files one at a time
          // so that two suites never fight over the same replication slot or CPU.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
