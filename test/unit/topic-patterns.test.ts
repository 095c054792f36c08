import { describe, expect, it } from 'vitest';
import { hasTopicPatterns, isInternalTopic, resolveTopics, TOPIC_ENTRY, topicPattern, topicSetChange } from '../../src/kafka/topic-patterns.js';
import { TopicDiscovery } from '../../src/sinks/runtime/topic-discovery.js';
import { clickhouseSinkConfigSchema } from '../../src/sinks/clickhouse/spec.js';

const CLUSTER = [
  '__consumer_offsets',
  '__transaction_state',
  '_schemas',
  '_tideline_offsets',
  'app.public.orders',
  'app.public.customers',
  'app.public.orders.dlq',
  'app.public.order_items',
  'app.billing.invoices',
  'app-sink.dlq',
  'agg.repartition',
  'agg.changelog',
  'other.public.orders',
  'sink-errors',
];

describe('topic patterns', () => {
  it('matches "*" and "?" within one dot-separated part, and escapes the rest', () => {
    expect(topicPattern('app.public.*').test('app.public.orders')).toBe(true);
    expect(topicPattern('app.public.*').test('app.public.orders.dlq')).toBe(false);
    expect(topicPattern('app.*').test('app.public.orders')).toBe(false);
    expect(topicPattern('app.*.*').test('app.public.orders')).toBe(true);
    expect(topicPattern('app.public.order?').test('app.public.orders')).toBe(true);
    expect(topicPattern('app.public.order?').test('app.public.order.')).toBe(false);
    expect(topicPattern('app.public.*').test('appXpublic.orders')).toBe(false); // "." is literal
    expect(topicPattern('a-b.*').test('a-b.c')).toBe(true);
    expect(topicPattern('*').test('orders')).toBe(true);
  });

  it('tells patterns from names, and names the internal topics', () => {
    expect(hasTopicPatterns(['app.public.orders'])).toBe(false);
    expect(hasTopicPatterns(['app.public.orders', 'app.billing.*'])).toBe(true);
    for (const internal of ['__consumer_offsets', '_schemas', '_tideline_offsets', 'x.dlq', 'agg.repartition', 'agg.changelog']) expect(isInternalTopic(internal), internal).toBe(true);
    expect(isInternalTopic('app.public.orders')).toBe(false);
  });

  it('resolves plain entries as written and patterns against existing topics, never internal or excluded ones', () => {
    expect(resolveTopics(['app.public.*'], CLUSTER)).toEqual(['app.public.customers', 'app.public.order_items', 'app.public.orders']);
    expect(resolveTopics(['*', '*.*', '*.*.*'], CLUSTER, ['sink-errors'])).toEqual([
      'app.billing.invoices',
      'app.public.customers',
      'app.public.order_items',
      'app.public.orders',
      'other.public.orders',
    ]);
    // A plain entry stays first and once, existing or not (the consumer waits for it); internal ones only by name.
    expect(resolveTopics(['later.topic', '_schemas', 'app.billing.*', 'app.*.invoices'], CLUSTER)).toEqual(['later.topic', '_schemas', 'app.billing.invoices']);
    expect(resolveTopics(['nothing.*'], CLUSTER)).toEqual([]);
  });

  it('diffs two topic sets regardless of order', () => {
    expect(topicSetChange(['a', 'b'], ['b', 'a'])).toEqual({ added: [], removed: [] });
    expect(topicSetChange(['a', 'b'], ['a', 'c', 'd'])).toEqual({ added: ['c', 'd'], removed: ['b'] });
  });

  it('accepts Kafka topic names and globs in the sink config, and names a bad entry', () => {
    expect(TOPIC_ENTRY.test('app.public.*')).toBe(true);
    const base = { url: 'http://127.0.0.1:8123' };
    const parsed = clickhouseSinkConfigSchema.parse({ ...base, topics: ['app.public.*', 'app.billing.invoices'] });
    expect(parsed.topics).toEqual(['app.public.*', 'app.billing.invoices']);
    expect(parsed.topicDiscoveryIntervalMs).toBeUndefined(); // runKafkaSink's default (10 s) applies; the config stays as written
    const refused = clickhouseSinkConfigSchema.safeParse({ ...base, topics: ['app.public.orders', 'app/public/*'] });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.path).toEqual(['topics', 1]);
    expect(refused.error?.issues[0]?.message).toMatch(/Kafka topic name/);
  });
});

describe('TopicDiscovery', () => {
  it('resolves against the current list and waits for a first match', async () => {
    let cluster: string[] = ['_schemas'];
    const discovery = new TopicDiscovery({ entries: ['app.public.*'], exclude: [], intervalMs: 5, listTopics: async () => cluster });
    let waits = 0;
    const first = await discovery.firstMatch(new AbortController().signal, () => {
      if (++waits === 3) cluster = [...cluster, 'app.public.orders', 'app.public.orders.dlq'];
    });
    expect(waits).toBe(3);
    expect(first).toEqual(['app.public.orders']);
    cluster = [...cluster, 'app.public.items'];
    expect(await discovery.resolve()).toEqual(['app.public.items', 'app.public.orders']);
    expect(discovery.patterns).toEqual(['app.public.*']);
  });

  it('gives up waiting when aborted', async () => {
    const controller = new AbortController();
    const discovery = new TopicDiscovery({ entries: ['none.*'], exclude: [], intervalMs: 60_000, listTopics: async () => [] });
    const waiting = discovery.firstMatch(controller.signal, () => controller.abort());
    expect(await waiting).toEqual([]);
  });
});
