/**
 * How a connector learns that Kafka went away and came back, from its own
 * kafkajs client:
 *  - kafkajs's log entries about connections (refused, timed out, closed,
 *    retrying) mark Kafka unreachable; they go to debug, so an outage is one
 *    warn line of the connector's (core/service-health.ts) instead of dozens
 *    of library errors;
 *  - while the outage lasts, a probe (a metadata request on a fresh
 *    connection, no retries) runs every PROBE_INTERVAL_MS; the first that
 *    succeeds ends the outage. Traffic alone cannot tell: an idle producer
 *    sends nothing, and a broker in controlled shutdown still answers on some
 *    connections while it refuses others.
 */
import type { ISocketFactory, LogEntry } from 'kafkajs';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ServiceHealth } from '../core/service-health.js';

export const KAFKA = 'kafka';

/** kafkajs's own keep-alive (network/socketFactory.js). */
const KEEP_ALIVE_DELAY_MS = 60_000;

/** How often an outage is probed. */
const PROBE_INTERVAL_MS = 1_000;

const CONNECTIVITY =
  /Connection error|Connection timeout|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|connect to seed broker|connect to broker|Closed connection|Connection closed|Request .* timed out|Restarting the consumer|Crash: KafkaJS(Connection|NumberOfRetriesExceeded|RequestTimeout)|KafkaJSConnection|not connected/i;

/** True when a kafkajs log entry is about reaching brokers (retry chatter during an outage). */
export function isConnectivityEntry(entry: LogEntry): boolean {
  const { message, error } = entry.log as { message: string; error?: unknown };
  return CONNECTIVITY.test(message) || (typeof error === 'string' && CONNECTIVITY.test(error));
}

/**
 * True for entries kafkajs logs on the way to a retry: those carrying its
 * retry count, error responses (`Response Fetch(...)` with a retriable error
 * code) and transient broker states, which its retrier handles. A retry that finally fails reaches
 * the connector as an error, and the connector reports it.
 */
export function isRetryEntry(entry: LogEntry): boolean {
  const log = entry.log as { message: string; retryCount?: unknown; error?: unknown };
  return typeof log.retryCount === 'number' || log.message.startsWith('Response ') || TRANSIENT.test(`${log.message} ${String(log.error ?? '')}`);
}

/** Broker states a client waits out by retrying: a coordinator or leader moving, a group rebalancing. */
const TRANSIENT = /not the correct coordinator|coordinator (is )?(not available|loading)|rebalanc|leader|not the correct controller|concurrent transactions/i;

/** One kafkajs client's reports of Kafka's reachability to its connector's health. */
export class KafkaReachability {
  private probing: NodeJS.Timeout | null = null;
  private closed = false;

  /** `probe` resolves when Kafka answers a request, and rejects soon when it does not. */
  constructor(
    private readonly health: ServiceHealth,
    private readonly probe: () => Promise<void>,
  ) {}

  /** A kafkajs log entry: a connectivity entry reports (or prolongs) an outage. Returns whether it was one. */
  observe(entry: LogEntry): boolean {
    if (!isConnectivityEntry(entry)) return false;
    if (this.closed) return true;
    const { message, retryCount, retryTime } = entry.log as { message: string; retryCount?: unknown; retryTime?: unknown };
    this.health.unreachable(KAFKA, message, {
      ...(typeof retryCount === 'number' ? { attempt: retryCount + 1 } : {}),
      ...(typeof retryTime === 'number' ? { nextInMs: retryTime } : {}),
    });
    this.scheduleProbe();
    return true;
  }

  /** kafkajs's socket factory, plus: every socket is added to `sockets` (see releaseKafka in client.ts). */
  socketFactory(sockets: Set<Socket>): ISocketFactory {
    return ({ host, port, ssl, onConnect }) => {
      const socket = ssl
        ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
        : connectTcp({ host, port }, onConnect);
      socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    };
  }

  /** The client is done: no more probes or reports. */
  close(): void {
    this.closed = true;
    if (this.probing) clearTimeout(this.probing);
    this.probing = null;
  }

  // One probe at a time; `probing` stays set while it runs, so the connection
  // errors of a failing probe do not schedule more.
  private scheduleProbe(): void {
    if (this.probing || this.closed) return;
    this.probing = setTimeout(() => {
      this.probe().then(
        () => {
          this.probing = null;
          if (!this.closed) this.health.reachable(KAFKA);
        },
        () => {
          this.probing = null;
          if (this.health.isUnreachable(KAFKA)) this.scheduleProbe();
        },
      );
    }, PROBE_INTERVAL_MS);
    this.probing.unref();
  }
}
