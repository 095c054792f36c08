/**
 * /metrics across threads. Each connector worker thread has its own copy of
 * registry.ts (module state is per thread); a scrape asks every live worker
 * for its metrics as JSON and merges them with the main thread's own through
 * prom-client's AggregatorRegistry.aggregate (values of the same series are
 * summed; one connector runs in one thread, so series rarely meet).
 *
 * Counters and histograms of a worker that ended (its connector stopped, was
 * reloaded, or the thread died) are carried: kept and added to every later
 * scrape, so a connector's counters do not drop when its next worker starts
 * from zero. A worker that ends normally gives its final values; one that
 * died gives those of the last scrape (what it counted since then is lost,
 * which Prometheus's rate() reads as a counter reset). Gauges of an ended
 * worker are dropped: they described a thread that is gone.
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { registry } from './registry.js';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** A thread whose metrics a scrape collects. */
export interface MetricsSource {
  collect(): Promise<MetricsJson>;
}

const sources = new Set<MetricsSource>();
const carried: MetricsJson[] = [];

export function addMetricsSource(source: MetricsSource): void {
  sources.add(source);
}

/** The source is gone; `last` (its final or last-scraped metrics) keeps its counters and histograms. */
export function removeMetricsSource(source: MetricsSource, last: MetricsJson | undefined): void {
  sources.delete(source);
  if (last) {
    const kept = monotonic(last);
    if (kept.length > 0) carried.push(kept);
  }
}

/** The counters and histograms of a thread's metrics (what must not go back when the thread goes). */
export function monotonic(metrics: MetricsJson): MetricsJson {
  return metrics.filter((metric) => ['counter', 'histogram'].includes(String(metric.type)));
}

/** Merges metrics of several threads into one registry (summing equal series). */
export function mergeMetrics(parts: readonly MetricsJson[]): AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'> {
  return AggregatorRegistry.aggregate(parts as MetricsJson[]) as AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'>;
}

/**
 * The Prometheus text of every thread. Without workers this is the main
 * thread's registry as before; a worker that does not answer (stuck or
 * ending) is left out of this scrape rather than failing it.
 */
export async function scrapeMetrics(): Promise<string> {
  if (sources.size === 0 && carried.length === 0) return registry.metrics();
  return mergeMetrics(await everyThread()).metrics();
}

/**
 * Every thread's metrics, collected at most every RECENT_MS: the admin API
 * reads several metrics of each connector every 2 s (connector-insight.ts),
 * which should not ask every worker for everything each time.
 */
const RECENT_MS = 250;
let recent: { at: number; parts: Promise<MetricsJson[]> } | null = null;
function recentThreads(): Promise<MetricsJson[]> {
  const now = Date.now();
  if (!recent || now - recent.at > RECENT_MS) recent = { at: now, parts: everyThread() };
  return recent.parts;
}

/** The main thread's metrics, each live worker's (a worker that does not answer is left out) and the carried ones. */
async function everyThread(): Promise<MetricsJson[]> {
  const own = await registry.getMetricsAsJSON();
  const workers = await Promise.all([...sources].map((source) => source.collect().catch(() => [] as MetricsJson)));
  return [own, ...workers, ...carried];
}

/** The values of one metric summed over every thread (the main one, live workers, ended workers carried): for in-process readers such as the bench. */
export async function metricValues(name: string): Promise<MetricValue<string>[]> {
  const parts = sources.size === 0 ? [await registry.getMetricsAsJSON(), ...carried] : await recentThreads();
  const merged = await mergeMetrics(parts.map((part) => part.filter((metric) => metric.name === name))).getMetricsAsJSON();
  return merged.find((metric) => metric.name === name)?.values ?? [];
}
