import type { Command } from 'commander';
import { TidelineError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { createSchemaRegistry } from '../../registry/create-registry.js';
import { DEFAULT_REGISTRY_TOPIC } from '../../registry/embedded-registry.js';
import { DEFAULT_REGISTRY_PORT, registrySettings } from '../../registry/settings.js';
import { ExitCode } from '../exit-codes.js';
import { untilSignal } from '../signals.js';

interface RegistryOptions {
  brokers?: string;
  kafkaSsl?: boolean;
  topic: string;
  host: string;
  port: string;
  logLevel?: string;
}

/** `tideline registry`: the embedded schema registry alone, served over HTTP. */
export function registerRegistry(program: Command): void {
  program
    .command('registry')
    .description(
      "Run tideline's schema registry alone: Confluent's REST API (the subset Avro clients use) over HTTP, schemas in a Kafka topic shared with every other instance. " +
        'Clients must send basic auth credentials when TIDELINE_REGISTRY_USERNAME and TIDELINE_REGISTRY_PASSWORD are set.',
    )
    .option('--brokers <brokers>', 'Kafka bootstrap brokers, "host:port,host:port" (default: $TIDELINE_KAFKA_BROKERS)', process.env.TIDELINE_KAFKA_BROKERS || undefined)
    .option('--kafka-ssl', 'connect to Kafka with TLS (SASL: $TIDELINE_KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD)')
    .option('--topic <topic>', 'the registry topic (compacted, one partition)', process.env.TIDELINE_REGISTRY_TOPIC || DEFAULT_REGISTRY_TOPIC)
    .option('--host <host>', 'address to listen on', process.env.TIDELINE_REGISTRY_HOST || '127.0.0.1')
    .option('--port <port>', 'HTTP port (0 picks a free one)', process.env.TIDELINE_REGISTRY_PORT || String(DEFAULT_REGISTRY_PORT))
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default: $TIDELINE_LOG_LEVEL or info)')
    .action(async (options: RegistryOptions) => {
      if (!options.brokers) throw new TidelineError('no Kafka brokers: pass --brokers or set TIDELINE_KAFKA_BROKERS');
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        console.error(`--port: "${options.port}" is not a port number`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const logger = createLogger({ level: options.logLevel, name: 'tideline-registry' });
      const settings = registrySettings({ registry: 'embedded', registryTopic: options.topic, registryBrokers: options.brokers, kafkaSsl: options.kafkaSsl, registryHost: options.host, registryPort: String(port) });
      const registry = await createSchemaRegistry(settings, { logger });
      await untilSignal(logger);
      await registry.close();
      process.exitCode = ExitCode.ok;
    });
}
