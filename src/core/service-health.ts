/**
 * How a connector reports the reachability of the services it talks to
 * (Kafka, its database, its warehouse). The runtime turns these reports into
 * one log line per change of state — `kafka unreachable, retrying (attempt 1,
 * next in 0.3 s)` at warn, `kafka reachable again after 6.1 s` at info — the
 * connector's `degraded` state with the reason, and time-degraded metrics. The
 * retry chatter of client libraries goes to debug instead.
 */

/** A service by the name operators know it: `kafka`, `postgresql`, `clickhouse`. */
export type ServiceName = string;

export interface RetryInfo {
  /** 1 for the first failed attempt; default: one more than the outage's last. */
  attempt?: number;
  /** When the next attempt is due, if known. */
  nextInMs?: number;
}

export interface ServiceHealth {
  /**
   * A request to `service` failed for want of a connection (refused, reset,
   * timed out). `since`: when the outage began, if it was noticed earlier than
   * it is reported (default now).
   */
  unreachable(service: ServiceName, reason: string, retry?: RetryInfo, since?: number): void;
  /**
   * `service` answered (at `since`, default now); ends an outage reported by
   * unreachable(). A no-op when none was.
   */
  reachable(service: ServiceName, since?: number): void;
  /** Whether an outage of `service` is going on. */
  isUnreachable(service: ServiceName): boolean;
}

/** Error codes of a connection that could not be made or broke (Node's net and DNS errors). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** PostgreSQL SQLSTATEs of a server going away or not accepting connections yet (class 57P, 08). */
const SERVER_GONE_STATES = /^(57P0[1-3]|08\d{3})$/;

const NETWORK_MESSAGES =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|Connection terminated|connection timeout|Connection error|Timeout error|timed out|Closed connection|Connection closed|connect to seed broker|not connected|the database system is (starting up|shutting down)/i;

/**
 * True when `error` (or an error it wraps) says the service could not be
 * reached, rather than that it refused the request: worth a "retrying" line,
 * not a failure report.
 */
export function isUnreachable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_GONE_STATES.test(code))) return true;
  if (NETWORK_MESSAGES.test(error.message)) return true;
  return isUnreachable(error.cause, depth + 1) || (error instanceof AggregateError && error.errors.some((inner) => isUnreachable(inner, depth + 1)));
}

/** True when `error` or an error it wraps is the Kafka client's (kafkajs names its errors KafkaJS…). */
export function isKafkaError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  return error.name.startsWith('KafkaJS') || isKafkaError(error.cause, depth + 1);
}

/**
 * For a command outside the daemon (`tideline replay`): outages are only
 * logged, once each; its reads retry and it sees the error if they give up.
 */
export function loggingHealth(logger: { warn(object: object, message: string): void }): ServiceHealth {
  const down = new Set<string>();
  return {
    unreachable: (service, reason) => {
      if (!down.has(service)) logger.warn({ service, reason }, `${service} unreachable, retrying`);
      down.add(service);
    },
    reachable: (service) => void down.delete(service),
    isUnreachable: (service) => down.has(service),
  };
}
