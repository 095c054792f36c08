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
import { instanceId } from '../kafka/group-membership.js';
import { startAdminServer } from './admin-server.js';
import { Router } from './admin/router.js';
import { adminRoutes, type AdminConnector } from './admin/routes.js';
import { ConnectorInsight } from './connector-insight.js';
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
  /** TIDELINE_ADMIN_TOKEN: every admin request must carry it; needed to listen on an address other than loopback. */
  adminToken?: string | undefined;
}

/** How often throughput is sampled for the admin API's status. */
const THROUGHPUT_SAMPLE_MS = 2_000;

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
  private readonly admin: AdminConnector[];
  private sampler: NodeJS.Timeout | null = null;

  constructor(definitions: readonly ConnectorDefinition[], private readonly logger: Logger, private readonly options: DaemonOptions) {
    const enabled = definitions.filter((definition) => definition.enabled).map((definition) => ({ ...definition, format: definition.format ?? options.format ?? DEFAULT_FORMAT }));
    const needsRegistry = enabled.some((definition) => formatNeedsRegistry(definition.format));
    const registry = options.registry ?? (needsRegistry ? inMemoryRegistry(logger) : undefined);
    this.supervisors = enabled.map((definition) => new ConnectorSupervisor(definition, logger.child({ connector: definition.name, kind: definition.kind }), registry));
    this.admin = this.supervisors.map((supervisor) => this.adminConnector(supervisor));
  }

  /** A supervisor as the admin API drives it. */
  private adminConnector(supervisor: ConnectorSupervisor): AdminConnector {
    const definition = supervisor.connector;
    const { spec } = definition;
    const logger = this.logger.child({ connector: definition.name, component: 'admin' });
    const insight = new ConnectorInsight(
      { name: definition.name, role: spec.role, kafka: definition.kafka, groups: spec.consumerGroups?.(definition.name, definition.config) ?? [] },
      logger,
    );
    return {
      facts: { name: definition.name, kind: definition.kind, role: spec.role, format: definition.format ?? this.options.format ?? DEFAULT_FORMAT, config: definition.config },
      status: () => supervisor.status(),
      lastError: () => supervisor.lastError(),
      unreachableServices: () => supervisor.unreachableServices(),
      pause: () => supervisor.pause(),
      resume: () => supervisor.resume(),
      restart: () => supervisor.restart(),
      offsets: async () => (spec.readOffsets ? spec.readOffsets({ name: definition.name, config: definition.config, kafka: definition.kafka, logger }) : []),
      insight: () => insight.read(),
      sample: () => insight.sample(),
    };
  }

  get adminPort(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  statuses() {
    return this.supervisors.map((supervisor) => supervisor.status());
  }

  async start(): Promise<void> {
    if (this.options.adminPort >= 0) {
      const router = new Router(
        adminRoutes({ workerId: () => `${instanceId()}:${this.adminPort ?? this.options.adminPort}`, connectors: () => this.admin }),
        this.options.adminToken,
      );
      this.server = await startAdminServer({ host: this.options.adminHost, port: this.options.adminPort, token: this.options.adminToken, router, logger: this.logger });
      this.logger.info({ address: `http://${this.options.adminHost}:${this.adminPort}`, token: this.options.adminToken ? 'required' : 'none' }, 'admin API listening (/connectors, /metrics, /healthz, /openapi.json)');
      this.sampler = setInterval(() => {
        for (const connector of this.admin) connector.sample().catch(() => undefined);
      }, THROUGHPUT_SAMPLE_MS);
      this.sampler.unref();
      for (const connector of this.admin) connector.sample().catch(() => undefined);
    }
    for (const supervisor of this.supervisors) supervisor.start();
    this.logger.info({ connectors: this.supervisors.map((supervisor) => supervisor.name) }, 'daemon started');
  }

  async stop(): Promise<void> {
    this.logger.info('stopping connectors');
    if (this.sampler) clearInterval(this.sampler);
    await Promise.all(this.supervisors.map((supervisor) => supervisor.stop()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.logger.info('daemon stopped');
  }
}
