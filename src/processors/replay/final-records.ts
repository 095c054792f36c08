/**
 * What an aggregate's replay writes: every record its rebuild made, reduced
 * to the last one per key (a compacted topic's view), and what makes the old
 * state and results go away where the rebuild has nothing for their key.
 *
 * A result's delete is two records, the `d` event and its tombstone: both
 * stay (a sink writes the delete; compaction drops the key on the
 * tombstone). Everything else keeps only its last record: a consumer of the
 * results sees one final result per window, never the partial counts the
 * rebuild went through. State records are keyed per partition (a changelog
 * partition is its state partition); results by key alone (the output topic
 * is partitioned by key).
 */
import type { OutputRecord } from '../../kafka/records.js';

export interface KeyedRecord {
  topic: string;
  partition?: number;
  key: Buffer | null;
}

export class FinalRecords {
  private readonly last = new Map<string, OutputRecord[]>();

  constructor(private readonly resultTopic: string) {}

  private id(record: KeyedRecord): string {
    const key = record.key?.toString('base64') ?? '';
    return record.topic === this.resultTopic ? `${record.topic}\u0000${key}` : `${record.topic}\u0000${record.partition ?? ''}\u0000${key}`;
  }

  add(record: OutputRecord): void {
    const id = this.id(record);
    if (record.value === null && record.topic === this.resultTopic) {
      const before = this.last.get(id)?.[0];
      this.last.set(id, before && before.value !== null ? [before, record] : [record]);
      return;
    }
    this.last.set(id, [record]);
  }

  /** Whether the rebuild wrote anything for this record's key. */
  has(record: KeyedRecord): boolean {
    return this.last.has(this.id(record));
  }

  get size(): number {
    return this.last.size;
  }

  /** The records to write, one key after another (a result's delete and tombstone together). */
  *records(): Iterable<OutputRecord> {
    for (const records of this.last.values()) yield* records;
  }
}

/** The last record per key of what a topic held (its live keys: the last value not null). */
export class LiveKeys<T extends KeyedRecord & { value: Buffer | null }> {
  private readonly last = new Map<string, T>();

  add(record: T): void {
    this.last.set(`${record.topic}\u0000${record.partition ?? ''}\u0000${record.key?.toString('base64') ?? ''}`, record);
  }

  /** Keys whose last record has a value. */
  *live(): Iterable<T> {
    for (const record of this.last.values()) if (record.value !== null) yield record;
  }
}
