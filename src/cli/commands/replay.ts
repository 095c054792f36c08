/**
 * `tideline replay <connector>`: rebuilds a ClickHouse sink's tables from its
 * topics into shadow tables and swaps them in while the sink keeps running
 * (src/sinks/clickhouse/replay/), or reprocesses a processor from a point
 * (src/processors/replay/; --pause stops it through the daemon's admin API
 * meanwhile: replay-admin.ts). Progress: a bar on a terminal (stderr), JSON
 * lines on stdout otherwise.
 */
import type { Command } from 'commander';
import { loadConnectorFiles } from '../../config/load.js';
import { ConfigError, errorMessage, formatProblem } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import { createLogger } from '../../core/logger.js';
import { createSchemaRegistry } from '../../registry/create-registry.js';
import { registrySettings } from '../../registry/settings.js';
import { connectorKinds, rowVersions } from '../../runtime/registry.js';
import { createConverter, DEFAULT_FORMAT, formatNeedsRegistry, isFormat, unknownFormatMessage } from '../../serde/index.js';
import { progressJson, progressLine, type ProgressSnapshot } from '../../core/progress.js';
import { abortReplay, ReplayInterruptedError, ReplayRefusedError, runReplay, type ReplayReporter } from '../../sinks/clickhouse/replay/replayer.js';
import type { ClickHouseSinkConfig } from '../../sinks/clickhouse/spec.js';
import { ProcessorReplayRefusedError, replayProcessor, type ReplayableProcessor } from '../../processors/replay/processor-replay.js';
import type { ConnectorDefinition } from '../../config/load.js';
import type { AggregateConfig } from '../../processors/aggregate/spec.js';
import type { TransformConfig } from '../../processors/transform/spec.js';
import { ExitCode } from '../exit-codes.js';
import { adminControl } from './replay-admin.js';
import { defaultUrl } from './status.js';

interface ReplayFlags {
  connectors: string[];
  tables?: string;
  from?: string;
  allowPartial?: boolean;
  abort?: boolean;
  json?: boolean;
  format: string;
  registry?: string;
  logLevel?: string;
  pause?: boolean;
  url: string;
}

/** A bar redrawn in place on a terminal; JSON lines otherwise. */
function reporter(tty: boolean): ReplayReporter & { end(): void } {
  let drawn = false;
  return {
    progress(progress: ProgressSnapshot) {
      if (tty) {
        process.stderr.write(`\r${progressLine(progress)}\u001b[K`);
        drawn = true;
      } else {
        process.stdout.write(`${progressJson(progress)}\n`);
      }
    },
    event(event, message, detail = {}) {
      if (tty) {
        if (drawn) process.stderr.write('\n');
        drawn = false;
        process.stderr.write(`${message}\n`);
      } else {
        process.stdout.write(`${JSON.stringify({ event, message, ...detail })}\n`);
      }
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

/** `--from`: an ISO 8601 time; null when it is not one. */
export function parseFrom(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      "Rebuild a ClickHouse sink's tables from its topics into shadow tables and swap them in atomically, while the live tables serve and the sink keeps running. An interrupted replay resumes when run again, or is dropped with --abort. " +
        'On a processor (transform, aggregate): reprocess from --from or the earliest offsets, exactly once, while it is stopped (--pause pauses and resumes it through the admin API); an aggregate rebuilds its state and results from the earliest offsets in one transaction.',
    )
    .argument('<connector>', 'name of a clickhouse-sink, transform or aggregate connector')
    .option('-c, --connectors <paths...>', 'connector files or directories ($TIDELINE_CONNECTORS, comma-separated, sets the default)', (process.env.TIDELINE_CONNECTORS ?? 'connectors').split(','))
    .option('--tables <a,b>', 'rebuild only these ClickHouse tables (default: every table of the sink)')
    .option('--from <time>', 'read from the first records at or after this ISO 8601 time (default: the earliest offsets); rows last changed before it are not in the rebuilt table')
    .option('--allow-partial', 'rebuild from the earliest offsets a topic still holds when retention deleted older records')
    .option('--abort', 'drop the shadow tables of an interrupted replay (of --tables, or of every table) instead of resuming it')
    .option('--json', 'progress and steps as JSON lines on stdout, also on a terminal')
    .option('--format <format>', 'event format when the connector file sets none: json or avro', process.env.TIDELINE_FORMAT ?? DEFAULT_FORMAT)
    .option('--registry <registry>', 'schema registry: "embedded" or a URL (default: $TIDELINE_REGISTRY_URL, else embedded)')
    .option('--log-level <level>', 'log level of the lines on stderr (default: warn)')
    .option('--pause', 'processors: pause the processor through the daemon\'s admin API for the replay and resume it afterwards')
    .option('--url <url>', 'processors, with --pause: admin API of the daemon (default: $TIDELINE_ADMIN_URL, else http://127.0.0.1:$TIDELINE_ADMIN_PORT or 8089)', defaultUrl())
    .action(async (name: string, flags: ReplayFlags) => {
      const logger = createLogger({ level: flags.logLevel ?? 'warn', destination: 2 });
      let definitions;
      try {
        definitions = loadConnectorFiles(flags.connectors, connectorKinds);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems) console.error(formatProblem(problem));
        process.exitCode = ExitCode.invalidConfig;
        return;
      }
      const definition = definitions.find((d) => d.name === name);
      if (!definition) {
        console.error(`tideline replay: refused: no connector named "${name}" in ${flags.connectors.join(', ')} (connectors: ${definitions.map((d) => d.name).join(', ') || 'none'})`);
        process.exitCode = ExitCode.failure;
        return;
      }
      const processor = replayableProcessor(definition);
      if (definition.kind !== 'clickhouse-sink' && !processor) {
        console.error(`tideline replay: refused: "${name}" is a ${definition.kind} connector; replay rebuilds the tables of clickhouse-sink connectors and reprocesses transform and aggregate processors (a ${definition.spec.role} has nothing to replay)`);
        process.exitCode = ExitCode.failure;
        return;
      }
      if (processor && (flags.abort || flags.tables)) {
        console.error(`tideline replay: refused: ${flags.abort ? '--abort' : '--tables'} is for clickhouse-sink connectors; a processor replay is one transaction, with nothing left to abort`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const format = definition.format ?? flags.format;
      if (!isFormat(format)) {
        console.error(`--format (or TIDELINE_FORMAT): ${unknownFormatMessage(format)}`);
        process.exitCode = ExitCode.usage;
        return;
      }
      let fromMs: number | undefined;
      if (flags.from !== undefined) {
        const parsed = parseFrom(flags.from);
        if (parsed === null) {
          console.error(`--from: "${flags.from}" is not an ISO 8601 time (e.g. 2026-11-30T12:00:00Z)`);
          process.exitCode = ExitCode.usage;
          return;
        }
        fromMs = parsed;
      }
      const tables = flags.tables?.split(',').map((table) => table.trim()).filter(Boolean);
      const registry = formatNeedsRegistry(format) ? await createSchemaRegistry(registrySettings({ registry: flags.registry }), { logger, kafka: definition.kafka }) : undefined;
      const report = reporter(Boolean(process.stderr.isTTY) && !flags.json);
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      /** Runs the replay, reports a refusal or failure (`failed`: what to do next), cleans up. */
      const run = async (work: () => Promise<void>, refused: (error: unknown) => string | undefined, failed: string): Promise<void> => {
        try {
          await work();
          process.exitCode = ExitCode.ok;
        } catch (error) {
          report.end();
          const refusal = refused(error);
          console.error(refusal ?? `tideline replay: failed: ${redactSecrets(errorMessage(error))}; ${failed}`);
          process.exitCode = ExitCode.failure;
        } finally {
          report.end();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await registry?.close();
        }
      };
      if (processor) {
        await run(
          () =>
            replayProcessor(
              { connector: name, processor, kafka: definition.kafka, converter: createConverter(format, registry), rowVersions, logger, reporter: report },
              { fromMs, allowPartial: flags.allowPartial, signal: stop.signal, control: flags.pause ? adminControl(flags.url, name) : undefined },
            ),
          (error) => (error instanceof ProcessorReplayRefusedError ? `tideline replay: refused: ${error.message}` : undefined),
          'nothing was changed (the replay writes in one transaction): run it again',
        );
      } else {
        const target = {
          connector: name,
          config: definition.config as ClickHouseSinkConfig,
          kafka: definition.kafka,
          converter: createConverter(format, registry),
          rowVersions,
          logger,
          reporter: report,
        };
        await run(
          () => (flags.abort ? abortReplay(target, tables) : runReplay(target, { tables, fromMs, allowPartial: flags.allowPartial, signal: stop.signal })),
          (error) =>
            error instanceof ReplayRefusedError
              ? `tideline replay: refused: ${error.message}`
              : error instanceof ReplayInterruptedError
                ? `tideline replay: ${error.message}`
                : undefined,
          'run the same command to resume, or with --abort to drop the shadow tables',
        );
      }
      // Kafka and ClickHouse clients may leave timers behind; the work is done.
      process.exit(process.exitCode);
    });
}

/** A transform or aggregate definition as the processor replay takes it; null for other kinds. */
function replayableProcessor(definition: ConnectorDefinition): ReplayableProcessor | null {
  if (definition.kind === 'transform') return { kind: 'transform', config: definition.config as TransformConfig };
  if (definition.kind === 'aggregate') return { kind: 'aggregate', config: definition.config as AggregateConfig };
  return null;
}
