/**
 * Event-time windows, aligned to the epoch. Tumbling windows are hopping
 * windows whose advance equals their size. Each partition keeps a watermark:
 * the highest event time it has seen. A window closes once
 * end + allowed lateness <= watermark; an event whose windows have all closed
 * is late and dropped (Kafka Streams' grace period).
 */

export interface WindowSpec {
  sizeMs: number;
  /** Equal to sizeMs for tumbling windows. */
  advanceMs: number;
  allowedLatenessMs: number;
}

/** Start times of the windows holding `ts`, oldest first. */
export function windowStarts(ts: number, spec: WindowSpec): number[] {
  const starts: number[] = [];
  const last = Math.floor(ts / spec.advanceMs) * spec.advanceMs;
  for (let start = last; start > ts - spec.sizeMs; start -= spec.advanceMs) starts.push(start);
  return starts.reverse();
}

/** The watermark at and after which the window starting at `start` is closed. */
export function closesAt(start: number, spec: WindowSpec): number {
  return start + spec.sizeMs + spec.allowedLatenessMs;
}

export function isClosed(start: number, spec: WindowSpec, watermark: number): boolean {
  return closesAt(start, spec) <= watermark;
}

/**
 * Which windows an event at `ts` updates, given the watermark after it was
 * seen; `late` when there were some but all had closed.
 */
export function assignWindows(ts: number, spec: WindowSpec, watermark: number): { open: number[]; late: boolean } {
  const all = windowStarts(ts, spec);
  const open = all.filter((start) => !isClosed(start, spec, watermark));
  return { open, late: open.length === 0 && all.length > 0 };
}
