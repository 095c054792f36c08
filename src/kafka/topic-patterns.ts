/**
 * Topic lists whose entries may be glob patterns (a sink's `topics`).
 *
 * An entry with `*` or `?` is a pattern: `*` matches any run of characters
 * and `?` one character, both within one dot-separated part of the name (as
 * the source's column globs), so `tideline.public.*` matches
 * `tideline.public.orders` but not `tideline.public.orders.dlq`. Kafka topic
 * names hold only letters, digits, `.`, `_` and `-`, so no topic name is ever
 * read as a pattern by mistake.
 *
 * A pattern never matches an internal topic: names starting with `_`
 * (`__consumer_offsets`, `__transaction_state`, `_schemas`,
 * `_tideline_offsets`, Confluent's `_confluent-*`), dead-letter topics
 * (`*.dlq`), an aggregate processor's `<name>.repartition` and
 * `<name>.changelog`, and the names the caller excludes (a sink's own
 * dead-letter topic). A plain entry is taken as written, internal or not.
 */

/** What a `topics` entry may hold: Kafka's topic-name characters plus the glob characters. */
export const TOPIC_ENTRY = /^[A-Za-z0-9._*?-]+$/;

export function isTopicPattern(entry: string): boolean {
  return /[*?]/.test(entry);
}

export function hasTopicPatterns(entries: readonly string[]): boolean {
  return entries.some(isTopicPattern);
}

/** A glob entry as a RegExp over whole topic names. */
export function topicPattern(entry: string): RegExp {
  const source = entry.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]');
  return new RegExp(`^${source}$`);
}

const INTERNAL_SUFFIXES = ['.dlq', '.repartition', '.changelog'];

/** A topic no pattern matches (see the module comment). */
export function isInternalTopic(topic: string): boolean {
  return topic.startsWith('_') || INTERNAL_SUFFIXES.some((suffix) => topic.endsWith(suffix));
}

/**
 * The topics `entries` stand for, given the topics that exist: every plain
 * entry (existing or not: a consumer waits for it) in its order, then the
 * existing topics a pattern matches, sorted, each once.
 */
export function resolveTopics(entries: readonly string[], existing: readonly string[], exclude: readonly string[] = []): string[] {
  const plain = entries.filter((entry) => !isTopicPattern(entry));
  const patterns = entries.filter(isTopicPattern).map(topicPattern);
  const excluded = new Set(exclude);
  const resolved = new Set(plain);
  const matched = existing
    .filter((topic) => !resolved.has(topic) && !excluded.has(topic) && !isInternalTopic(topic) && patterns.some((pattern) => pattern.test(topic)))
    .sort();
  for (const topic of matched) resolved.add(topic);
  return [...resolved];
}

export interface TopicSetChange {
  added: string[];
  removed: string[];
}

/** What changed from `current` to `next` (order does not matter); both empty: nothing. */
export function topicSetChange(current: readonly string[], next: readonly string[]): TopicSetChange {
  const before = new Set(current);
  const after = new Set(next);
  return { added: next.filter((topic) => !before.has(topic)), removed: current.filter((topic) => !after.has(topic)) };
}
