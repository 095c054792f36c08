// Where the integration tests find PostgreSQL, Kafka and ClickHouse.
//
// test/support/global-setup.ts fills these environment variables before any test
// file runs (from the caller's environment, testcontainers or the native stack/),
// and vitest's workers inherit them. Outside vitest, `eval "$(stack/env)"` sets them.

export interface ServiceUrls {
  /** postgres://user:password@host:port/database */
  pgUrl: string;
  /** host:port of each bootstrap broker */
  kafkaBrokers: string[];
  /** http://[user:password@]host:port of the HTTP interface */
  clickhouseUrl: string;
}

export const SERVICE_ENV = {
  pgUrl: 'TIDELINE_PG_URL',
  kafkaBrokers: 'TIDELINE_KAFKA_BROKERS',
  clickhouseUrl: 'TIDELINE_CLICKHOUSE_URL',
} as const;

function required(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) {
    throw new Error(
      `${name} is not set. Integration tests get their service addresses from ` +
        `test/support/global-setup.ts (run them with \`vitest run --project integration\`), ` +
        `or point them at a running stack with: eval "$(stack/env)"`,
    );
  }
  return value;
}

export function serviceUrls(): ServiceUrls {
  const kafkaBrokers = required(SERVICE_ENV.kafkaBrokers)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  return {
    pgUrl: required(SERVICE_ENV.pgUrl),
    kafkaBrokers,
    clickhouseUrl: required(SERVICE_ENV.clickhouseUrl),
  };
}
