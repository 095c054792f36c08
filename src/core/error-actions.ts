/**
 * What an operator should do about an error, for the `action` field of log
 * lines (and alerts that point at them). Known causes are recognised by what
 * the clients put on their errors (PostgreSQL SQLSTATE codes, ClickHouse
 * error codes, Node's errno codes, kafkajs and registry error names), looked
 * for through `cause` chains. Unknown errors get no action: a wrong hint is
 * worse than none.
 *
 * Imports nothing but service-health (core), so every layer may use it.
 */
import { isUnreachable } from './service-health.js';

/** Services as logs name them. */
const SERVICE_TEXT: Record<string, string> = {
  postgresql: 'PostgreSQL (the connector\'s url)',
  kafka: 'Kafka (the connector\'s kafka.brokers)',
  clickhouse: 'ClickHouse (the sink\'s url)',
  'schema-registry': 'the schema registry (TIDELINE_REGISTRY_URL)',
};

/** PostgreSQL SQLSTATE codes. */
const PG_ACTIONS: Record<string, string> = {
  '28P01': 'PostgreSQL refused the password: fix the user or password in the connector\'s url',
  '28000': 'PostgreSQL refused the login: check the user in the connector\'s url and that pg_hba.conf allows it from this host (a `replication` line for the replication connection)',
  '42501': 'the PostgreSQL user lacks a privilege: grant it REPLICATION (ALTER ROLE <user> REPLICATION) and SELECT on the captured tables, or create the publication as an owner of the tables',
  '53400': 'PostgreSQL has no free replication slot or WAL sender: raise max_replication_slots / max_wal_senders, or drop unused slots (`tideline slots`, `tideline slots --drop <slot>`)',
  '55006': 'the replication slot is in use by another connection: stop the other consumer of the slot (another daemon running this connector?)',
  '3D000': 'the database in the connector\'s url does not exist: fix the url',
};

/** ClickHouse error codes. */
const CLICKHOUSE_ACTIONS: Record<number, string> = {
  516: 'ClickHouse refused the login: fix the username or password in the sink\'s settings',
  192: 'ClickHouse does not know the user: fix the sink\'s username, or create the user',
  194: 'ClickHouse needs a password for this user: set the sink\'s password',
  497: 'the ClickHouse user lacks a privilege: grant it CREATE, ALTER, INSERT and SELECT on the sink\'s database',
  243: 'ClickHouse is out of disk space: free space on its data disk; the sink retries and loses nothing',
  164: 'ClickHouse is in read-only mode for this user or table: give the sink a user that may write',
  242: 'the ClickHouse table is read-only (replica lost ZooKeeper?): fix the server; the sink retries and loses nothing',
};

/** Node's errno codes for the local disk. */
const FILE_ACTIONS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space on the volume named in the error',
  EDQUOT: 'the disk quota is exhausted: free space or raise the quota',
  EACCES: 'permission denied: let the daemon\'s user read (and write, for state) the path named in the error',
  EPERM: 'operation not permitted: let the daemon\'s user read (and write, for state) the path named in the error',
  EROFS: 'the file system is read-only: mount it read-write or point the daemon elsewhere',
};

/**
 * The action to take for `error`, or undefined when it is not known.
 * `service`: who the failing operation talked to (for unreachable services).
 */
export function errorAction(error: unknown, service?: string): string | undefined {
  const chain = causes(error);
  for (const link of chain) {
    const action = knownAction(link);
    if (action) return action;
  }
  if (isUnreachable(error)) return unreachableAction(service);
  return undefined;
}

/** What to do while a service cannot be reached (the `action` of outage lines). */
export function unreachableAction(service?: string): string {
  const what = (service && SERVICE_TEXT[service]) ?? service ?? 'the service';
  return `start ${what} or fix its address or the network path to it; tideline retries by itself and loses nothing meanwhile`;
}

/** What to do about messages in a dead-letter topic, from the first one's error. */
export function deadLetterAction(firstError: string | undefined): string {
  if (firstError && /type change not applied/.test(firstError)) {
    return 'alter the column type in ClickHouse as the error says (or drop the table and replay the topic), then replay the dead-lettered messages';
  }
  return 'read the dead-letter topic (<connector>.dlq unless deadLetterTopic is set; each message has its error in its headers), fix the data or the schema, then replay the messages if their rows are needed';
}

function knownAction(error: Error): string | undefined {
  const { code } = error as { code?: unknown };
  if (typeof code === 'string') {
    if (PG_ACTIONS[code]) return PG_ACTIONS[code];
    if (FILE_ACTIONS[code]) return FILE_ACTIONS[code];
    if (/^\d+$/.test(code) && CLICKHOUSE_ACTIONS[Number(code)]) return CLICKHOUSE_ACTIONS[Number(code)];
  }
  if (typeof code === 'number' && CLICKHOUSE_ACTIONS[code]) return CLICKHOUSE_ACTIONS[code];
  const message = error.message;
  switch (error.name) {
    case 'KafkaJSSASLAuthenticationError':
      return 'Kafka refused the login: fix kafka.sasl (mechanism, username, password) in the connector file';
    case 'IncompatibleSchemaError':
    case 'SchemaRefusedError':
      return 'the schema registry refused the new schema as incompatible: make the table change compatible (add nullable columns or columns with defaults), or change the subject\'s compatibility level in the registry; meanwhile the events go to the dead-letter topic';
    case 'SnapshotPlanError':
      return 'the replication slot was lost: set snapshotMode: when_needed to read a new snapshot, or recreate the connector under a new name';
  }
  if (/TOPIC_AUTHORIZATION_FAILED|GROUP_AUTHORIZATION_FAILED|TRANSACTIONAL_ID_AUTHORIZATION_FAILED/.test(`${(error as { type?: unknown }).type ?? ''} ${message}`)) {
    return 'Kafka denied access: grant the connector\'s principal access to its topics, consumer group and transactional ids';
  }
  if (/publication "[^"]*" does not exist/.test(message)) {
    return 'the publication was dropped: restart the connector (it creates a missing publication) or create it again for the captured tables';
  }
  if (/replication slot "[^"]*" does not exist/.test(message)) {
    return 'the replication slot was dropped: restart the connector (with snapshotMode: when_needed it reads a new snapshot), or recreate it under a new name';
  }
  if (/schema registry.*(401|403)|(401|403).*schema registry/i.test(message)) {
    return 'the schema registry refused the credentials: fix TIDELINE_REGISTRY_USER / TIDELINE_REGISTRY_PASSWORD';
  }
  return undefined;
}

/** `error` and what it wraps (cause, AggregateError members), at most 6 deep. */
function causes(error: unknown): Error[] {
  const out: Error[] = [];
  const visit = (current: unknown, depth: number): void => {
    if (!(current instanceof Error) || depth > 5) return;
    out.push(current);
    visit(current.cause, depth + 1);
    if (current instanceof AggregateError) for (const inner of current.errors) visit(inner, depth + 1);
  };
  visit(error, 0);
  return out;
}
