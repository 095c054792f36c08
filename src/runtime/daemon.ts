/**
 * The always-on daemon: supervises every enabled connector, serves the admin
 * API, and stops everything cleanly on SIGINT/SIGTERM (connectors finish or
 * abort their open batch; nothing unacknowledged is confirmed upstream).
 * reload() applies changed connector files without touching the connectors
 * they did not change (reload-plan.ts).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectorDefinition, ConnectorFiles } from '../config/load.js';
import type { Logger } from '../core/logger.js';
import { SerialQueue } from '../core/serial-queue.js';
import { metrics } from '../metrics/registry.js';
import { MemorySchemaRegistry } from '../registry/memory-registry.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import { DEFAULT_FORMAT, formatNeedsRegistry, type FormatName } from '../serde/index.js';
import { instanceId } from '../kafka/group-membership.js';
import { startAdminServer } from './admin-server.js';
import { definitionFingerprint, planReload, type LoadedConnector } from './reload-plan.js';
import { problemText, reportReadFailure, reportReload, summarise, type ReloadSummary } from './reload-report.js';
import { Router } from './admin/router.js';
import { adminRoutes, type AdminConnector } from './admin/routes.js';
import { ConnectorInsight } from './connector-insight.js';
import { ConnectorSupervisor } from './supervisor.js';
import { WorkerHost, workerRefusal } from './worker/worker-host.js';

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
  /** Reads the connector files again for reload() (`tideline run` reads the paths it was given); without it reload() does nothing. */
  readConnectors?: () => ConnectorFiles;
  /** TIDELINE_ADMIN_TOKEN: every admin request must carry it; needed to listen on an address other than loopback. */
  adminToken?: string | undefined;
  /**
   * Run each connector in a worker thread of its own, so connectors do not
   * share one event loop. `tideline run` turns it on unless `--no-threads` or
   * TIDELINE_THREADS=false; a Daemon made in code runs every connector in
   * the daemon's thread unless this is true.
   */
  threads?: boolean;
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
  private supervisors: ConnectorSupervisor[];
  private server: Server | null = null;
  private registry: SchemaRegistry | undefined;
  /** What each supervised connector was loaded from and runs, for reload(). */
  private readonly loaded = new Map<string, LoadedConnector>();
  private readonly reloads = new SerialQueue();
  /** A reload queued behind the one running: later triggers join it (it reads the files when it starts). */
  private queuedReload: Promise<ReloadSummary | undefined> | null = null;
  private stopping = false;
  /** Each supervisor as the admin API drives it (made once: it keeps the throughput samples). */
  private readonly admin = new WeakMap<ConnectorSupervisor, AdminConnector>();
  private sampler: NodeJS.Timeout | null = null;

  constructor(definitions: readonly ConnectorDefinition[], private readonly logger: Logger, private readonly options: DaemonOptions) {
    const enabled = definitions.filter((definition) => definition.enabled);
    this.registry = options.registry;
    this.supervisors = enabled.map((definition) => this.supervise(definition));
  }

  private get defaultFormat(): FormatName {
    return this.options.format ?? DEFAULT_FORMAT;
  }

  /** A supervisor for the definition (not started), recorded for reload(). */
  private supervise(definition: ConnectorDefinition): ConnectorSupervisor {
    const resolved = { ...definition, format: definition.format ?? this.defaultFormat };
    if (formatNeedsRegistry(resolved.format)) this.registry ??= inMemoryRegistry(this.logger);
    this.loaded.set(definition.name, { name: definition.name, file: definition.file, fingerprint: definitionFingerprint(definition, this.defaultFormat) });
    const logger = this.logger.child({ connector: definition.name, kind: definition.kind });
    return new ConnectorSupervisor(resolved, logger, this.registry, undefined, this.threadHost(resolved, logger));
  }

  /** A worker thread for the connector when the daemon runs threads and the connector can run in one. */
  private threadHost(definition: ConnectorDefinition, logger: Logger): WorkerHost | undefined {
    if (!this.options.threads) return undefined;
    const refusal = workerRefusal(definition);
    if (!refusal) return new WorkerHost(definition, logger, this.registry);
    logger.warn({ reason: refusal }, 'connector runs in the daemon\'s thread, not a worker thread of its own');
    return undefined;
  }

  /** The connectors the admin API serves: the supervisors running now (a reload changes them). */
  private adminConnectors(): AdminConnector[] {
    return this.supervisors.map((supervisor) => {
      let connector = this.admin.get(supervisor);
      if (!connector) this.admin.set(supervisor, (connector = this.adminConnector(supervisor)));
      return connector;
    });
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
      facts: { name: definition.name, kind: definition.kind, role: spec.role, format: definition.format ?? this.defaultFormat, config: definition.config },
      status: () => supervisor.status(),
      lastError: () => supervisor.lastError(),
      unreachableServices: () => supervisor.unreachableServices(),
      pause: () => supervisor.pause(),
      resume: () => supervisor.resume(),
      restart: () => supervisor.restart(),
      offsets: async () => (spec.readOffsets ? spec.readOffsets({ name: definition.name, config: definition.config, kafka: definition.kafka, logger }) : []),
      insight: () => insight.read(),
      sample: () => insight.sample(),
      signal: (type, data, id) => supervisor.signal(type, data, id),
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
        adminRoutes({ workerId: () => `${instanceId()}:${this.adminPort ?? this.options.adminPort}`, connectors: () => this.adminConnectors() }),
        this.options.adminToken,
      );
      this.server = await startAdminServer({ host: this.options.adminHost, port: this.options.adminPort, token: this.options.adminToken, router, logger: this.logger });
      this.logger.info({ address: `http://${this.options.adminHost}:${this.adminPort}`, token: this.options.adminToken ? 'required' : 'none' }, 'admin API listening (/connectors, /metrics, /healthz, /openapi.json)');
      this.sampler = setInterval(() => {
        for (const connector of this.adminConnectors()) connector.sample().catch(() => undefined);
      }, THROUGHPUT_SAMPLE_MS);
      this.sampler.unref();
      for (const connector of this.adminConnectors()) connector.sample().catch(() => undefined);
    }
    for (const supervisor of this.supervisors) supervisor.start();
    if (this.options.readConnectors) {
      // The files the daemon started from were valid: that counts as a successful load.
      metrics.configLastReloadSuccessful.set(1);
      metrics.configLastReloadSuccessTimestamp.set(Date.now() / 1000);
    }
    this.logger.info({ connectors: this.supervisors.map((supervisor) => supervisor.name) }, 'daemon started');
  }

  /**
   * Reads the connector files again and applies them: starts added
   * connectors, stops removed ones, restarts changed ones (stop, then start
   * the new definition: the normal stop path commits or aborts what is open,
   * and the new run resumes from the stored offsets), and leaves the others
   * running untouched. A file with a problem keeps its connectors' running
   * version and marks their status with the problem. Reloads run one at a
   * time; resolves with what was done (undefined if the daemon is stopping).
   */
  reload(trigger: string): Promise<ReloadSummary | undefined> {
    this.queuedReload ??= this.reloads.run(() => {
      this.queuedReload = null;
      return this.applyReload(trigger);
    });
    return this.queuedReload;
  }

  private async applyReload(trigger: string): Promise<ReloadSummary | undefined> {
    if (this.stopping || !this.options.readConnectors) return undefined;
    let files: ConnectorFiles;
    try {
      files = this.options.readConnectors();
    } catch (error) {
      // Not a problem of one file (e.g. a directory that cannot be listed): nothing is applied.
      reportReadFailure(trigger, error, this.logger);
      return undefined;
    }
    const plan = planReload([...this.loaded.values()], files, this.defaultFormat);
    const summary = summarise(trigger, plan);
    const find = (name: string) => this.supervisors.find((supervisor) => supervisor.name === name);

    const stopped = [...plan.removed, ...plan.changed.map((definition) => definition.name)];
    await this.stopAll(stopped.map(find).filter((supervisor) => supervisor !== undefined));
    for (const name of stopped) {
      // A removed connector's series goes (it is not down, it is gone); a changed one's new run sets it again.
      const supervisor = find(name);
      if (supervisor) metrics.connectorUp.remove({ connector: name, kind: supervisor.status().kind });
    }
    for (const name of plan.removed) this.loaded.delete(name);
    this.supervisors = this.supervisors.filter((supervisor) => !plan.removed.includes(supervisor.name));
    // A SIGTERM during the stops: start nothing new (stop() waits for this reload, then stops the rest).
    if (!this.stopping) {
      for (const definition of [...plan.changed, ...plan.added]) {
        const supervisor = this.supervise(definition);
        const index = this.supervisors.findIndex((existing) => existing.name === definition.name);
        if (index >= 0) this.supervisors[index] = supervisor;
        else this.supervisors.push(supervisor);
        supervisor.start();
      }
    }
    for (const definition of plan.unchanged) {
      const loaded = this.loaded.get(definition.name);
      if (loaded) loaded.file = definition.file;
    }
    const keptProblems = new Map(plan.kept.map((kept) => [kept.name, kept.problems.map(problemText).join('; ')]));
    for (const supervisor of this.supervisors) supervisor.setReloadError(keptProblems.get(supervisor.name));
    reportReload(summary, plan.problems, this.logger);
    return summary;
  }

  /** Stops the supervisors, with a warning naming those still stopping after 30 s (later reloads wait for them). */
  private async stopAll(supervisors: readonly ConnectorSupervisor[]): Promise<void> {
    const pending = new Set(supervisors.map((supervisor) => supervisor.name));
    const slow = setTimeout(() => {
      this.logger.warn({ connectors: [...pending], action: 'see the connectors\' own log lines; a restart of the daemon ends them' }, 'reload: connectors still stopping after 30 s; the reload waits for them');
    }, 30_000);
    try {
      await Promise.all(supervisors.map(async (supervisor) => {
        await supervisor.stop();
        pending.delete(supervisor.name);
      }));
    } finally {
      clearTimeout(slow);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A reload in progress finishes its stops first, so no connector is left half-replaced.
    await this.reloads.run(async () => undefined);
    this.logger.info('stopping connectors');
    if (this.sampler) clearInterval(this.sampler);
    await Promise.all(this.supervisors.map((supervisor) => supervisor.stop()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.logger.info('daemon stopped');
  }
}
