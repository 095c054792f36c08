/**
 * What the daemon can tell of a connector's flow, for the admin API's status
 * (and `tideline status`): lag, throughput and snapshot progress. Everything
 * comes from what the daemon already measures (the metrics registry) or can
 * ask Kafka without disturbing anything (committed group offsets against
 * the topics' ends); what is not known is null, never guessed.
 */
import type { ConnectorRole, ConsumerGroupInput } from '../core/connector.js';
import { errorMessage } from '../core/errors.js';
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { consumerLag, withKafka } from '../kafka/group-offsets.js';
import { metrics } from '../metrics/registry.js';
import { metricValues } from '../metrics/thread-metrics.js';
import type { Insight, Lag, Progress, Throughput } from './admin/connect-shapes.js';

/** prom-client's metrics have a name (their types do not declare it). */
type Metric = object;

/** Sum of a metric's samples whose `connector` label is `connector`, over every thread (connectors may run in worker threads); null when it has none. */
async function sumFor(metric: Metric, connector: string): Promise<number | null> {
  const values = await metricValues((metric as { name: string }).name);
  const mine = values.filter((sample) => sample.labels.connector === connector);
  return mine.length === 0 ? null : mine.reduce((sum, sample) => sum + sample.value, 0);
}

/** The counter a role's throughput is read from, and what it counts. */
const THROUGHPUT: Record<ConnectorRole, { metric: Metric; unit: string }> = {
  source: { metric: metrics.sourceEvents, unit: 'events written to Kafka' },
  sink: { metric: metrics.sinkRowsWritten, unit: 'rows written' },
  processor: { metric: metrics.processorEventsIn, unit: 'messages consumed' },
};

interface Sample {
  at: number;
  total: number;
}

/**
 * A counter's rate over a sliding window, from samples taken every few
 * seconds: (newest - oldest in the window) / their time apart.
 */
export class RateWindow {
  private readonly samples: Sample[] = [];

  constructor(private readonly windowMs = 30_000) {}

  add(at: number, total: number): void {
    // A counter that went down was reset (a new registry): start over.
    if (this.samples.length > 0 && total < this.samples.at(-1)!.total) this.samples.length = 0;
    this.samples.push({ at, total });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Per second over the window; null before two samples. */
  rate(): number | null {
    if (this.samples.length < 2) return null;
    const first = this.samples[0]!;
    const last = this.samples.at(-1)!;
    return last.at > first.at ? ((last.total - first.total) * 1000) / (last.at - first.at) : null;
  }

  get total(): number {
    return this.samples.at(-1)?.total ?? 0;
  }
}

export interface InsightSubject {
  name: string;
  role: ConnectorRole;
  kafka: KafkaConnection;
  /** The groups a sink or processor reads through (its kind's consumerGroups). */
  groups: ConsumerGroupInput[];
}

/** How long a measured lag is reused: a watching `tideline status` must not load Kafka. */
const LAG_TTL_MS = 2_000;
const LAG_TIMEOUT_MS = 5_000;

export class ConnectorInsight {
  private readonly rate = new RateWindow();
  private lag: { at: number; value: Promise<Lag> } | null = null;

  constructor(private readonly subject: InsightSubject, private readonly logger: Logger) {}

  /** Takes a throughput sample (the daemon calls it every few seconds). */
  async sample(now = Date.now()): Promise<void> {
    this.rate.add(now, (await sumFor(THROUGHPUT[this.subject.role].metric, this.subject.name)) ?? 0);
  }

  async read(): Promise<Insight> {
    const [lag, progress] = await Promise.all([this.currentLag(), this.progress()]);
    const throughput: Throughput = { per_second: this.rate.rate(), unit: THROUGHPUT[this.subject.role].unit, total: this.rate.total };
    return { lag, throughput, progress };
  }

  private currentLag(): Promise<Lag> {
    const now = Date.now();
    if (!this.lag || now - this.lag.at > LAG_TTL_MS) this.lag = { at: now, value: this.measureLag() };
    return this.lag.value;
  }

  private async measureLag(): Promise<Lag> {
    const { name, role, kafka, groups } = this.subject;
    if (role === 'source') return { events: null, seconds: null, wal_bytes: await sumFor(metrics.sourceLagBytes, name) };
    if (groups.length === 0) return { events: null, seconds: null };
    try {
      const partitions = await withKafka(kafka, `tideline-${name}-admin`, this.logger, LAG_TIMEOUT_MS, (client) => consumerLag(client, groups));
      const events = partitions.reduce((sum, partition) => sum + partition.lag, 0);
      // Behind by nothing is 0 s; how old the oldest unread message is would need reading it.
      return { events, seconds: events === 0 ? 0 : null };
    } catch (error) {
      return { events: null, seconds: null, error: redactSecrets(errorMessage(error)) };
    }
  }

  private async progress(): Promise<Progress | null> {
    const { name, role } = this.subject;
    if (role !== 'source' || (await sumFor(metrics.snapshotRunning, name)) !== 1) return null;
    const eta = await sumFor(metrics.snapshotEtaSeconds, name);
    return {
      phase: 'snapshot',
      done: (await sumFor(metrics.snapshotRows, name)) ?? 0,
      total: await sumFor(metrics.snapshotRowsEstimate, name),
      eta_seconds: eta === null || eta < 0 ? null : eta,
    };
  }
}
