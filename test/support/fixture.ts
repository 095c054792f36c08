/**
 * One captured table with its own slot, topic prefix, ClickHouse database and
 * connector names, all unique per test run; connector files for a source and
 * a sink over it; and the clean-up of everything it made.
 */
import pg from 'pg';
import { ClickHouseServer } from '../../src/sinks/clickhouse/server.js';
import { uniqueSuffix, writeConnectorFiles } from './pipeline.js';
import { serviceUrls, type ServiceUrls } from './services.js';

type Settings = Record<string, string | number | boolean>;

function yamlSettings(settings: Settings): string {
  return Object.entries(settings)
    .map(([key, value]) => `  ${key}: ${value}\n`)
    .join('');
}

export function sourceConnectorYaml(name: string, brokers: string, config: Settings & { url: string; slot: string; tables: string; topicPrefix: string }): string {
  return `name: ${name}\nkind: postgres-source\nkafka: { brokers: "${brokers}" }\nconfig:\n${yamlSettings(config)}`;
}

export function sinkConnectorYaml(name: string, brokers: string, config: Settings & { url: string; database: string; topics: string }): string {
  return `name: ${name}\nkind: clickhouse-sink\nkafka: { brokers: "${brokers}" }\nconfig:\n${yamlSettings(config)}`;
}

export class TableFixture {
  readonly services: ServiceUrls = serviceUrls();
  readonly suffix = uniqueSuffix();
  readonly table: string;
  readonly slot: string;
  readonly prefix: string;
  readonly topic: string;
  readonly database: string;
  readonly sourceName: string;
  readonly sinkName: string;
  /** Replaced by reconnect() after PostgreSQL restarted under it. */
  client: pg.Client;
  readonly clickhouse: ClickHouseServer;

  constructor(name: string) {
    this.table = `${name}_${this.suffix}`;
    this.slot = `tl_${name}_${this.suffix}`;
    this.prefix = `${name}${this.suffix}`;
    this.topic = `${this.prefix}.public.${this.table}`;
    this.database = `${name}_${this.suffix}`;
    this.sourceName = `${name}-source-${this.suffix}`;
    this.sinkName = `${name}-sink-${this.suffix}`;
    this.client = this.newClient();
    this.clickhouse = new ClickHouseServer(this.services.clickhouseUrl, 'default', undefined);
  }

  /** Connects to PostgreSQL and creates the table with the given column list. */
  async create(columns: string): Promise<void> {
    await this.client.connect();
    await this.client.query(`CREATE TABLE public.${this.table} (${columns})`);
  }

  /**
   * A directory with source.yaml and sink.yaml over this table; `source`/`sink`
   * add or override settings; `sink: false` leaves the sink out.
   */
  connectorFiles(options: { source?: Settings; sink?: Settings | false } = {}): string {
    const brokers = this.services.kafkaBrokers.join(',');
    const files = {
      'source.yaml': sourceConnectorYaml(this.sourceName, brokers, {
        url: this.services.pgUrl,
        slot: this.slot,
        tables: `[public.${this.table}]`,
        topicPrefix: this.prefix,
        maxBatchDelayMs: 20,
        ...options.source,
      }),
      'sink.yaml': sinkConnectorYaml(this.sinkName, brokers, {
        url: this.services.clickhouseUrl,
        database: this.database,
        topics: `[${this.topic}]`,
        ...(options.sink || {}),
      }),
    };
    if (options.sink === false) return writeConnectorFiles({ 'source.yaml': files['source.yaml'] });
    return writeConnectorFiles(files);
  }

  /** A new connection, for tests that restart PostgreSQL (the old one is dead). */
  async reconnect(): Promise<void> {
    await this.client.end().catch(() => undefined);
    this.client = this.newClient();
    await this.client.connect();
  }

  // A server restart ends an idle connection with an 'error' event, which would
  // crash the test run unheard; the next query on the client fails instead.
  private newClient(): pg.Client {
    const client = new pg.Client({ connectionString: this.services.pgUrl });
    client.on('error', () => undefined);
    return client;
  }

  /** Drops the slot (released once the source stopped), publication, table and database. */
  async cleanup(): Promise<void> {
    const quiet = () => undefined;
    await this.client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [this.slot]).catch(quiet);
    await this.client.query(`DROP PUBLICATION IF EXISTS ${this.slot}`).catch(quiet);
    await this.client.query(`DROP TABLE IF EXISTS public.${this.table}`).catch(quiet);
    await this.client.end().catch(quiet);
    await this.clickhouse.command(`DROP DATABASE IF EXISTS ${this.database}`).catch(quiet);
    await this.clickhouse.close();
  }
}
