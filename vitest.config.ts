import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // One stack for the whole run: services are found or started once.
          globalSetup: ['test/support/global-setup.ts'],
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
