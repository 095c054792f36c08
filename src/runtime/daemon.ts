/**
 * The always-on daemon: supervises every enabled connector, serves the admin
 * API, and stops everything cleanly on SIGINT/SIGTERM (connectors finish or
 * abort their open batch; nothing unacknowledged is confirmed upstream).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectorDefinition } from '../config/load.js';
import type { Logger } from '../core/logger.js';
import { MemorySchemaRegistry } from '../registry/memory-registry.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import { DEFAULT_FORMAT, formatNeedsRegistry, type FormatName } from '../serde/index.js';
import { startAdminServer } from './admin-server.js';
import { ConnectorSupervisor } from './supervisor.js';

export interface DaemonOptions {
  adminHost: string;
  /** 0 picks a free port; negative disables the admin server. */
  adminPort: number;
  /** Event format of connectors whose file names none (default DEFAULT_FORMAT, avro). */
  format?: FormatName;
  /**
   * Where connectors with a registry format (avro) register and fetch
   * schemas. Without one, such connectors share an in-memory registry that
   * lives as long as the process (see inMemoryRegistry).
   */
  registry?: SchemaRegistry;
}

/**
 * The stopgap registry of a daemon given none: in memory, with ids derived
 * from the schema text, so that after a restart a schema gets the id it had
 * and the messages written before still decode. Compatibility is checked only
 * against the versions registered since the process started.
 */
function inMemoryRegistry(logger: Logger): SchemaRegistry {
  logger.warn('format avro without a schema registry: using an in-memory registry (ids derived from the schemas; compatibility checked only within this process)');
  return new MemorySchemaRegistry('BACKWARD', 'content');
}

export class Daemon {
  private readonly supervisors: ConnectorSupervisor[];
  private server: Server | null = null;

  constructor(definitions: readonly ConnectorDefinition[], private readonly logger: Logger, private readonly options: DaemonOptions) {
    const enabled = definitions.filter((definition) => definition.enabled).map((definition) => ({ ...definition, format: definition.format ?? options.format ?? DEFAULT_FORMAT }));
    const needsRegistry = enabled.some((definition) => formatNeedsRegistry(definition.format));
    const registry = options.registry ?? (needsRegistry ? inMemoryRegistry(logger) : undefined);
    this.supervisors = enabled.map((definition) => new ConnectorSupervisor(definition, logger.child({ connector: definition.name, kind: definition.kind }), registry));
  }

  get adminPort(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  statuses() {
    return this.supervisors.map((supervisor) => supervisor.status());
  }

  /** Sends a signal to the named connector; undefined when there is no such connector. */
  signal(name: string, type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }> | undefined {
    return this.supervisors.find((supervisor) => supervisor.name === name)?.signal(type, data, id);
  }

  async start(): Promise<void> {
    if (this.options.adminPort >= 0) {
      this.server = await startAdminServer({
        host: this.options.adminHost,
        port: this.options.adminPort,
        statuses: () => this.statuses(),
        signal: (name, type, data, id) => this.signal(name, type, data, id),
      });
      this.logger.info({ address: `http://${this.options.adminHost}:${this.adminPort}` }, 'admin API listening (/metrics, /healthz, /connectors)');
    }
    for (const supervisor of this.supervisors) supervisor.start();
    this.logger.info({ connectors: this.supervisors.map((supervisor) => supervisor.name) }, 'daemon started');
  }

  async stop(): Promise<void> {
    this.logger.info('stopping connectors');
    await Promise.all(this.supervisors.map((supervisor) => supervisor.stop()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.logger.info('daemon stopped');
  }
}
