import type { Command } from 'commander';
import { loadConnectorFiles, readConnectorFiles } from '../../config/load.js';
import { ConfigError, formatProblem } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { createSchemaRegistry } from '../../registry/create-registry.js';
import { describeRegistry, registrySettings, type RegistryFlags, type RegistrySettings } from '../../registry/settings.js';
import { DEFAULT_RELOAD_DEBOUNCE_MS, watchConnectorFiles } from '../../runtime/config-watcher.js';
import { ADMIN_TOKEN_ENV, bindingProblem } from '../../runtime/admin/auth.js';
import { Daemon } from '../../runtime/daemon.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, stopWithin } from '../../runtime/shutdown.js';
import { connectorKinds } from '../../runtime/registry.js';
import { DEFAULT_FORMAT, formatNeedsRegistry, isFormat, unknownFormatMessage } from '../../serde/index.js';
import { ExitCode } from '../exit-codes.js';
import { onHangUp, untilSignal } from '../signals.js';

interface RunOptions extends RegistryFlags {
  registryKafkaSsl?: boolean;
  adminPort: string;
  adminHost: string;
  logLevel?: string;
  format: string;
  shutdownTimeout: string;
  watch: boolean;
  reloadDebounce: string;
  threads?: boolean;
}

/** --threads / --no-threads, else TIDELINE_THREADS (true or false), else on; a string: the usage problem. */
export function threadsSetting(flag: boolean | undefined, env: string | undefined): boolean | string {
  if (flag !== undefined) return flag;
  if (env === undefined || env === '') return true;
  if (env === 'true' || env === 'false') return env === 'true';
  return `TIDELINE_THREADS: "${env}" is neither true nor false`;
}

/** The admin API listens on loopback unless told otherwise (then it needs a token). */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_ADMIN_PORT = 8089;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run the daemon on connector files: supervise every connector, serve the admin API (Kafka Connect\'s /connectors endpoints, /metrics, /healthz, /openapi.json), reload the connector files on SIGHUP or when they change, stop cleanly on SIGINT/SIGTERM.')
    .argument('<paths...>', 'connector files or directories of .yaml/.yml files')
    .option('--admin-port <port>', 'admin HTTP port (-1 disables it)', process.env.TIDELINE_ADMIN_PORT ?? String(DEFAULT_ADMIN_PORT))
    .option('--admin-host <host>', `admin HTTP address to listen on (another address than loopback needs $${ADMIN_TOKEN_ENV})`, process.env.TIDELINE_ADMIN_HOST ?? DEFAULT_ADMIN_HOST)
    .option('--format <format>', 'event format of connectors whose file sets no format: json or avro (avro: Confluent wire format with a schema registry)', process.env.TIDELINE_FORMAT ?? DEFAULT_FORMAT)
    .option(
      '--shutdown-timeout <seconds>',
      'on SIGTERM/SIGINT, exit within this many seconds even if a connector is stuck (what was pending is logged)',
      process.env.TIDELINE_SHUTDOWN_TIMEOUT ?? String(DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000),
    )
    .option('--registry <registry>', 'schema registry: "embedded" (tideline\'s own, on Kafka) or the URL of a Confluent-compatible one (default: $TIDELINE_REGISTRY_URL, else embedded)')
    .option('--registry-username <user>', 'basic auth user of the registry (default: $TIDELINE_REGISTRY_USERNAME; the password comes from $TIDELINE_REGISTRY_PASSWORD only)')
    .option('--registry-topic <topic>', 'topic of the embedded registry (default: $TIDELINE_REGISTRY_TOPIC or _schemas)')
    .option('--registry-brokers <brokers>', "Kafka of the embedded registry (default: the first connector's kafka block, else $TIDELINE_KAFKA_BROKERS)")
    .option('--registry-kafka-ssl', 'connect to --registry-brokers with TLS (SASL: $TIDELINE_KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD)')
    .option('--registry-port <port>', 'serve the embedded registry over HTTP on this port (default: $TIDELINE_REGISTRY_PORT, else not served)')
    .option('--registry-host <host>', 'address the embedded registry listens on (default: $TIDELINE_REGISTRY_HOST or 127.0.0.1)')
    .option('--no-watch', 'do not reload when a connector file changes (SIGHUP still reloads; also $TIDELINE_RELOAD_WATCH=false)')
    .option('--reload-debounce <ms>', 'reload once connector files stopped changing for this many milliseconds', process.env.TIDELINE_RELOAD_DEBOUNCE_MS ?? String(DEFAULT_RELOAD_DEBOUNCE_MS))
    .option('--threads', 'run each connector in a worker thread of its own, so that sources, sinks and processors use more than one core (the default; $TIDELINE_THREADS=false turns it off)')
    .option('--no-threads', 'run every connector in the daemon\'s own thread')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default: $TIDELINE_LOG_LEVEL or info)')
    .action(async (paths: string[], options: RunOptions) => {
      const logger = createLogger({ level: options.logLevel });
      const format = options.format;
      if (!isFormat(format)) {
        console.error(`--format (or TIDELINE_FORMAT): ${unknownFormatMessage(format)}`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const reloadDebounceMs = Number(options.reloadDebounce);
      if (!Number.isInteger(reloadDebounceMs) || reloadDebounceMs < 0) {
        console.error(`--reload-debounce (or TIDELINE_RELOAD_DEBOUNCE_MS): "${options.reloadDebounce}" is not a number of milliseconds`);
        process.exitCode = ExitCode.usage;
        return;
      }
      // Hot reload (README "Hot reload"): SIGHUP, and changes to the files
      // unless --no-watch. Listening before the files are first read, so that
      // a change during start-up is applied once the daemon runs.
      const reloading: { daemon?: Daemon; missedTrigger?: string } = {};
      const reload = (trigger: string) => (): void => {
        if (!reloading.daemon) reloading.missedTrigger = trigger;
        else void reloading.daemon.reload(trigger).catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
      };
      // Kept through shutdown: a late SIGHUP is then ignored (reload() does nothing once stopping), not fatal.
      onHangUp(reload('SIGHUP'));
      const watcher = options.watch && process.env.TIDELINE_RELOAD_WATCH !== 'false'
        ? watchConnectorFiles(paths, reload('file change'), { debounceMs: reloadDebounceMs, logger })
        : undefined;
      let definitions;
      try {
        definitions = loadConnectorFiles(paths, connectorKinds);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems) console.error(formatProblem(problem));
        console.error(`refusing to start: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} in connector files`);
        process.exitCode = ExitCode.invalidConfig;
        return;
      }
      const adminPort = Number(options.adminPort);
      if (!Number.isInteger(adminPort) || adminPort > 65535) {
        console.error(`--admin-port: "${options.adminPort}" is not a port number`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const adminToken = process.env[ADMIN_TOKEN_ENV] || undefined;
      const binding = adminPort >= 0 ? bindingProblem(options.adminHost, adminToken) : undefined;
      if (binding) {
        console.error(binding);
        process.exitCode = ExitCode.usage;
        return;
      }
      const shutdownTimeoutMs = Number(options.shutdownTimeout) * 1000;
      if (!(shutdownTimeoutMs >= 2000)) {
        console.error(`--shutdown-timeout (or TIDELINE_SHUTDOWN_TIMEOUT): "${options.shutdownTimeout}" is not a number of seconds of at least 2`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const threads = threadsSetting(options.threads, process.env.TIDELINE_THREADS);
      if (typeof threads === 'string') {
        console.error(threads);
        process.exitCode = ExitCode.usage;
        return;
      }
      let settings: RegistrySettings;
      try {
        settings = registrySettings({ ...options, kafkaSsl: options.registryKafkaSsl });
      } catch (error) {
        console.error((error as Error).message);
        process.exitCode = ExitCode.usage;
        return;
      }
      const connectorsKafka = definitions.find((definition) => definition.enabled)?.kafka;
      const envBrokers = process.env.TIDELINE_KAFKA_BROKERS?.split(',').map((broker) => broker.trim()).filter(Boolean);
      const registry = await createSchemaRegistry(settings, {
        logger,
        kafka: connectorsKafka ?? (envBrokers?.length ? { brokers: envBrokers, ssl: false } : undefined),
      });
      logger.info({ registry: describeRegistry(settings) }, 'schema registry');
      if (definitions.some((definition) => definition.enabled && formatNeedsRegistry(definition.format ?? format))) registry.warmUp?.();
      const daemon = new Daemon(definitions, logger, {
        adminHost: options.adminHost,
        adminPort,
        adminToken,
        format,
        registry,
        threads,
        readConnectors: () => readConnectorFiles(paths, connectorKinds),
      });
      await daemon.start();
      reloading.daemon = daemon;
      if (reloading.missedTrigger) reload(reloading.missedTrigger)();
      await untilSignal(logger);
      watcher?.close();
      const stoppable = {
        stop: async () => {
          await daemon.stop();
          await registry.close();
        },
        statuses: () => daemon.statuses(),
      };
      const code = await stopWithin(stoppable, logger, shutdownTimeoutMs);
      // Exit now: a stopped daemon must not wait on timers or sockets a
      // library left behind (pino flushes its log on exit).
      process.exit(code === 0 ? ExitCode.ok : ExitCode.failure);
    });
}
