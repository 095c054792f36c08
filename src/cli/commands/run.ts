import type { Command } from 'commander';
import { loadConnectorFiles } from '../../config/load.js';
import { ConfigError, formatProblem } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { Daemon } from '../../runtime/daemon.js';
import { connectorKinds } from '../../runtime/registry.js';
import { DEFAULT_FORMAT, isFormat, unknownFormatMessage } from '../../serde/index.js';
import { ExitCode } from '../exit-codes.js';

interface RunOptions {
  adminPort: string;
  adminHost: string;
  logLevel?: string;
  format: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run the daemon on connector files: supervise every connector, serve /metrics, /healthz and /connectors, stop cleanly on SIGINT/SIGTERM.')
    .argument('<paths...>', 'connector files or directories of .yaml/.yml files')
    .option('--admin-port <port>', 'admin HTTP port (-1 disables it)', process.env.TIDELINE_ADMIN_PORT ?? '8089')
    .option('--admin-host <host>', 'admin HTTP address to listen on', process.env.TIDELINE_ADMIN_HOST ?? '0.0.0.0')
    .option('--format <format>', 'event format of connectors whose file sets no format: json or avro (avro: Confluent wire format with a schema registry)', process.env.TIDELINE_FORMAT ?? DEFAULT_FORMAT)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default: $TIDELINE_LOG_LEVEL or info)')
    .action(async (paths: string[], options: RunOptions) => {
      const logger = createLogger({ level: options.logLevel });
      const format = options.format;
      if (!isFormat(format)) {
        console.error(`--format (or TIDELINE_FORMAT): ${unknownFormatMessage(format)}`);
        process.exitCode = ExitCode.usage;
        return;
      }
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
      const daemon = new Daemon(definitions, logger, { adminHost: options.adminHost, adminPort, format });
      await daemon.start();
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          logger.info({ signal }, 'shutting down');
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          // A second signal while stopping exits at once.
          const force = (): void => process.exit(ExitCode.failure);
          process.once('SIGINT', force);
          process.once('SIGTERM', force);
          resolve();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      await daemon.stop();
      process.exitCode = ExitCode.ok;
    });
}
