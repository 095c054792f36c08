/**
 * A sink's topic set when its `topics` hold patterns (src/kafka/topic-patterns.ts):
 * the plain entries plus the existing topics the patterns match, read from
 * Kafka's topic list. kafkajs's RegExp subscription matches only when the
 * consumer subscribes, so the sink runtime calls resolve() every
 * `intervalMs` and rejoins its group when the set changed (sink-runtime.ts).
 */
import { isTopicPattern, resolveTopics } from '../../kafka/topic-patterns.js';

export interface TopicDiscoverySettings {
  /** The configured entries, plain names and patterns. */
  entries: readonly string[];
  /** Names no pattern may match besides the internal ones (the sink's own dead-letter topic). */
  exclude: readonly string[];
  intervalMs: number;
  /** Every topic in the cluster (Kafka's metadata). */
  listTopics(): Promise<string[]>;
}

export class TopicDiscovery {
  readonly intervalMs: number;

  constructor(private readonly settings: TopicDiscoverySettings) {
    this.intervalMs = settings.intervalMs;
  }

  /** The patterns, for messages. */
  get patterns(): string[] {
    return this.settings.entries.filter(isTopicPattern);
  }

  /** The topics to consume now. */
  async resolve(): Promise<string[]> {
    return resolveTopics(this.settings.entries, await this.settings.listTopics(), this.settings.exclude);
  }

  /**
   * The first non-empty set (a consumer group cannot join subscribed to
   * nothing), checking every intervalMs; `onWaiting` is told at each empty
   * check. Empty if `signal` is aborted first.
   */
  async firstMatch(signal: AbortSignal, onWaiting: () => void): Promise<string[]> {
    for (;;) {
      const topics = await this.resolve();
      if (topics.length > 0 || signal.aborted) return topics;
      onWaiting();
      await sleep(this.intervalMs, signal);
    }
  }
}

/** Waits `ms`, or less if `signal` is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
