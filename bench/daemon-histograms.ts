/**
 * The daemon's own latency histograms, read from its /metrics text (summed
 * over label sets): how much of the end-to-end latency the bench measures
 * from outside each stage takes, as the daemon sees it.
 */

export interface HistogramSummary {
  count: number;
  sum: number;
  /** Cumulative counts per upper bound (seconds), ascending. */
  buckets: [number, number][];
}

export function readHistogram(metricsText: string, name: string): HistogramSummary {
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    const match = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (match[1] === `${name}_count`) count += value;
    else if (match[1] === `${name}_sum`) sum += value;
    else if (match[1] === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(match[2] ?? '')?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + value);
    }
  }
  return { count, sum, buckets: [...buckets].sort((a, b) => a[0] - b[0]) };
}

/** The difference of two readings of one histogram (what happened between them). */
export function histogramDelta(after: HistogramSummary, before: HistogramSummary): HistogramSummary {
  const earlier = new Map(before.buckets);
  return { count: after.count - before.count, sum: after.sum - before.sum, buckets: after.buckets.map(([le, n]) => [le, n - (earlier.get(le) ?? 0)]) };
}

/** "mean 123 ms; ≤0.25 s 80.1 %, ≤1 s 99.2 %" for the given bounds. */
export function describeHistogram(histogram: HistogramSummary, bounds: readonly number[]): string {
  if (histogram.count === 0) return 'no observations';
  const shares = bounds.map((bound) => {
    const within = histogram.buckets.find(([le]) => le === bound)?.[1] ?? 0;
    return `≤${bound} s ${((100 * within) / histogram.count).toFixed(1)} %`;
  });
  return `mean ${Math.round((1000 * histogram.sum) / histogram.count)} ms; ${shares.join(', ')} (${histogram.count.toLocaleString()} observations)`;
}
