/**
 * Which schema registry a daemon uses, from its command line and environment:
 * `embedded` (tideline's own, on Kafka; served over HTTP when a port is given)
 * or the URL of a Confluent-compatible registry, with basic auth.
 */
import { kafkaConnectionSchema, type KafkaConnection } from '../core/kafka-connection.js';
import { TidelineError } from '../core/errors.js';
import { DEFAULT_REGISTRY_TOPIC } from './embedded-registry.js';
import type { BasicCredentials } from './rest-server.js';

/** The embedded registry's HTTP port when `tideline registry` runs it (Confluent's; the admin API has 8089). */
export const DEFAULT_REGISTRY_PORT = 8081;

export type RegistrySettings =
  | {
      kind: 'embedded';
      topic: string;
      /** Kafka of the registry; absent: the caller's (the connectors') Kafka. */
      kafka?: KafkaConnection;
      /** Served over HTTP at this address; absent: in-process only. */
      serve?: { host: string; port: number };
      /** Credentials HTTP clients must send when it is served. */
      credentials?: BasicCredentials;
    }
  | { kind: 'url'; url: string; credentials?: BasicCredentials };

/** The registry options of `tideline run` (strings as commander gives them). */
export interface RegistryFlags {
  /** `embedded` or a URL. */
  registry?: string;
  registryTopic?: string;
  registryBrokers?: string;
  registryHost?: string;
  /** Serve the embedded registry on this port; negative or absent: do not serve. */
  registryPort?: string;
  registryUsername?: string;
  /** Connect to the registry's Kafka (registryBrokers) with TLS. */
  kafkaSsl?: boolean;
}

type Env = Record<string, string | undefined>;

/**
 * The settings from flags, falling back to TIDELINE_REGISTRY_URL (else
 * embedded), TIDELINE_REGISTRY_TOPIC, TIDELINE_REGISTRY_HOST,
 * TIDELINE_REGISTRY_PORT, TIDELINE_REGISTRY_USERNAME; the password only ever
 * comes from TIDELINE_REGISTRY_PASSWORD (a command line is visible to every
 * user of the machine). Throws TidelineError naming the flag at fault.
 */
export function registrySettings(flags: RegistryFlags, environment: Env = process.env): RegistrySettings {
  // An empty variable counts as unset.
  const env: Env = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== ''));
  const registry = (flags.registry ?? env.TIDELINE_REGISTRY_URL ?? 'embedded').trim();
  const credentials = credentialsFrom(flags.registryUsername ?? env.TIDELINE_REGISTRY_USERNAME, env.TIDELINE_REGISTRY_PASSWORD);
  if (registry === 'embedded') {
    const settings: RegistrySettings = { kind: 'embedded', topic: flags.registryTopic ?? env.TIDELINE_REGISTRY_TOPIC ?? DEFAULT_REGISTRY_TOPIC, credentials };
    if (!settings.topic.trim()) throw new TidelineError('--registry-topic: empty topic name');
    if (flags.registryBrokers?.trim()) settings.kafka = kafkaConnection(flags.registryBrokers, flags.kafkaSsl ?? false, env);
    const portText = flags.registryPort ?? env.TIDELINE_REGISTRY_PORT;
    if (portText !== undefined && portText !== '') {
      const port = Number(portText);
      if (!Number.isInteger(port) || port > 65535) throw new TidelineError(`--registry-port (or TIDELINE_REGISTRY_PORT): "${portText}" is not a port number`);
      if (port >= 0) settings.serve = { host: flags.registryHost ?? env.TIDELINE_REGISTRY_HOST ?? '127.0.0.1', port };
    }
    return settings;
  }
  let url: URL;
  try {
    url = new URL(registry);
  } catch {
    throw new TidelineError(`--registry (or TIDELINE_REGISTRY_URL): expected "embedded" or an http(s) URL, got "${withoutCredentials(registry)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TidelineError(`--registry (or TIDELINE_REGISTRY_URL): ${url.protocol} is not http: or https:`);
  return { kind: 'url', url: registry, credentials };
}

/**
 * The registry's own Kafka connection: brokers, TLS, and SASL from
 * TIDELINE_KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512),
 * TIDELINE_KAFKA_SASL_USERNAME and TIDELINE_KAFKA_SASL_PASSWORD.
 */
export function kafkaConnection(brokers: string, ssl: boolean, env: Env = process.env): KafkaConnection {
  const mechanism = env.TIDELINE_KAFKA_SASL_MECHANISM || undefined;
  const sasl = mechanism ? { mechanism, username: env.TIDELINE_KAFKA_SASL_USERNAME, password: env.TIDELINE_KAFKA_SASL_PASSWORD } : undefined;
  const parsed = kafkaConnectionSchema.safeParse({ brokers, ssl, sasl });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'brokers'}: ${issue.message}`).join('; ');
    throw new TidelineError(`the registry's Kafka connection (--brokers / --registry-brokers, TIDELINE_KAFKA_SASL_*): ${problems}`);
  }
  return parsed.data;
}

function credentialsFrom(username: string | undefined, password: string | undefined): BasicCredentials | undefined {
  if (!username && !password) return undefined;
  if (!username) throw new TidelineError('TIDELINE_REGISTRY_PASSWORD is set but no registry user name: pass --registry-username or set TIDELINE_REGISTRY_USERNAME');
  return { username, password: password ?? '' };
}

function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//***@');
}

/** The settings as a log may show them: no password. */
export function describeRegistry(settings: RegistrySettings): string {
  if (settings.kind === 'url') {
    const url = new URL(settings.url);
    url.username = url.password = '';
    return `${url.toString().replace(/\/+$/, '')}${settings.credentials || new URL(settings.url).username ? ' (basic auth)' : ''}`;
  }
  const served = settings.serve ? `, served on http://${settings.serve.host}:${settings.serve.port}` : '';
  return `embedded on topic ${settings.topic}${served}`;
}
