/**
 * The always-on daemon: supervises every enabled connector, serves the admin
 * API, and stops everything cleanly on SIGINT/SIGTERM (connectors finish or
 * abort their open batch; nothing unacknowledged is confirmed upstream).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectorDefinition } from '../config/load.js';
import type { Logger } from '../core/logger.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import type { FormatName } from '../serde/index.js';
import { startAdminServer } from './admin-server.js';
import { ConnectorSupervisor } from './supervisor.js';

export interface DaemonOptions {
  adminHost: string;
  /** 0 picks a free port; negative disables the admin server. */
  adminPort: number;
  /** Event format of connectors whose file names none (default json). */
  format?: FormatName;
  /** The schema registry of formats that register schemas (Avro); see src/registry/create-registry.ts. */
  registry?: SchemaRegistry;
}

export class Daemon {
  private readonly supervisors: ConnectorSupervisor[];
  private server: Server | null = null;

  constructor(definitions: readonly ConnectorDefinition[], private readonly logger: Logger, private readonly options: DaemonOptions) {
    this.supervisors = definitions
      .filter((definition) => definition.enabled)
      .map((definition) => ({ ...definition, format: definition.format ?? options.format }))
      .map((definition) => new ConnectorSupervisor(definition, logger.child({ connector: definition.name, kind: definition.kind })));
  }

  get adminPort(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  statuses() {
    return this.supervisors.map((supervisor) => supervisor.status());
  }

  async start(): Promise<void> {
    if (this.options.adminPort >= 0) {
      this.server = await startAdminServer({ host: this.options.adminHost, port: this.options.adminPort, statuses: () => this.statuses() });
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
