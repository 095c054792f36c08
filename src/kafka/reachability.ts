/**
 * How a connector learns that Kafka went away and came back, from its own
 * kafkajs client:
 *  - kafkajs's log entries about connections (refused, timed out, closed)
 *    make Kafka suspect; they go to debug, so an outage is one warn line of
 *    the connector's (core/service-health.ts) instead of dozens of library
 *    errors;
 *  - a probe (a metadata request on a fresh connection, no retries) confirms
 *    the suspicion at once, and while the outage lasts runs every
 *    PROBE_INTERVAL_MS; the first that succeeds ends the outage. Traffic alone cannot tell: an idle producer
 *    sends nothing, and a broker in controlled shutdown still answers on some
 *    connections while it refuses others.
 */
import type { ISocketFactory, LogEntry } from 'kafkajs';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { RetryInfo, ServiceHealth } from '../core/service-health.js';

export const KAFKA = 'kafka';

/** kafkajs's own keep-alive (network/socketFactory.js). */
const KEEP_ALIVE_DELAY_MS = 60_000;

/** How often an outage is probed. */
const PROBE_INTERVAL_MS = 1_000;

/**
 * How long Kafka must keep answering probes before an outage counts as over:
 * a restarted broker can refuse connections again for a moment after its
 * first answers, which would otherwise read as a second outage.
 */
const CONFIRM_MS = 1_000;

const CONNECTIVITY =
  /Connection error|Connection timeout|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|connect to seed broker|connect to broker|Closed connection|Connection closed|Request .* timed out|Crash: KafkaJS(Connection|RequestTimeout)|KafkaJSConnection|not connected/i;

/** True when a kafkajs log entry is about reaching brokers (retry chatter during an outage). */
export function isConnectivityEntry(entry: LogEntry): boolean {
  const { message, error } = entry.log as { message: string; error?: unknown };
  return CONNECTIVITY.test(message) || (typeof error === 'string' && CONNECTIVITY.test(error));
}

/**
 * True for entries kafkajs logs on the way to a retry: those carrying its
 * retry count or delay, consumer crashes, error responses (`Response Fetch(...)` with a retriable error
 * code) and transient broker states, which its retrier handles. A retry that finally fails reaches
 * the connector as an error, and the connector reports it.
 */
export function isRetryEntry(entry: LogEntry): boolean {
  const log = entry.log as { message: string; retryCount?: unknown; retryTime?: unknown; error?: unknown };
  if (typeof log.retryCount === 'number' || typeof log.retryTime === 'number') return true;
  // A consumer crash is followed by its restart ("Restarting the consumer in …"),
  // or else reaches the connector, which fails and says so itself.
  if (log.message.startsWith('Response ') || log.message.startsWith('Crash: ')) return true;
  return TRANSIENT.test(`${log.message} ${String(log.error ?? '')}`);
}

/** Broker states a client waits out by retrying: a coordinator or leader moving, a group rebalancing. */
const TRANSIENT = /not the correct coordinator|coordinator (is )?(not available|loading)|rebalanc|leader|not the correct controller|concurrent transactions/i;

/** One kafkajs client's reports of Kafka's reachability to its connector's health. */
export class KafkaReachability {
  private probing: NodeJS.Timeout | null = null;
  private closed = false;
  /** The latest connectivity entry: the reason an outage is reported with. */
  private latest: { reason: string; retry: RetryInfo } = { reason: '', retry: {} };
  /** The first connectivity entry since Kafka last answered: when a confirmed outage began. */
  private suspectedSince: number | null = null;
  /** During an outage, when probes started succeeding again. */
  private answeringSince: number | null = null;

  /** `probe` resolves when Kafka answers a request, and rejects soon when it does not. */
  constructor(
    private readonly health: ServiceHealth,
    private readonly probe: () => Promise<void>,
  ) {}

  /**
   * A kafkajs log entry. A connectivity entry during an outage is one more
   * failed attempt; otherwise it is a suspicion, confirmed by a probe at once
   * before an outage is reported: after a broker restart, connections opened
   * before it still fail for a while when the cluster already answers.
   * Returns whether the entry was about connectivity.
   */
  observe(entry: LogEntry): boolean {
    if (!isConnectivityEntry(entry)) return false;
    if (this.closed) return true;
    const { message, retryCount, retryTime } = entry.log as { message: string; retryCount?: unknown; retryTime?: unknown };
    this.latest = {
      reason: message,
      retry: {
        ...(typeof retryCount === 'number' ? { attempt: retryCount + 1 } : {}),
        ...(typeof retryTime === 'number' ? { nextInMs: retryTime } : {}),
      },
    };
    this.suspectedSince ??= Date.now();
    if (this.health.isUnreachable(KAFKA)) {
      this.health.unreachable(KAFKA, this.latest.reason, this.latest.retry);
      this.scheduleProbe(PROBE_INTERVAL_MS);
    } else {
      this.scheduleProbe(0);
    }
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
  // errors of a failing probe do not start more. A failed probe starts the
  // outage (if it was only suspected) and schedules the next; probes that keep
  // succeeding for CONFIRM_MS end it.
  private scheduleProbe(delayMs: number): void {
    if (this.probing || this.closed) return;
    this.probing = setTimeout(() => {
      this.probe().then(
        () => this.answered(),
        () => this.refused(),
      );
    }, delayMs);
    this.probing.unref();
  }

  private answered(): void {
    this.probing = null;
    if (this.closed) return;
    if (!this.health.isUnreachable(KAFKA)) {
      this.suspectedSince = null; // a stale connection failed; Kafka answers
      return;
    }
    const now = Date.now();
    this.answeringSince ??= now;
    if (now - this.answeringSince < CONFIRM_MS) {
      this.scheduleProbe(PROBE_INTERVAL_MS);
      return;
    }
    this.health.reachable(KAFKA, this.answeringSince);
    this.answeringSince = null;
    this.suspectedSince = null;
  }

  private refused(): void {
    this.probing = null;
    if (this.closed) return;
    this.answeringSince = null;
    if (!this.health.isUnreachable(KAFKA)) this.health.unreachable(KAFKA, this.latest.reason, this.latest.retry, this.suspectedSince ?? undefined);
    this.scheduleProbe(PROBE_INTERVAL_MS);
  }
}
