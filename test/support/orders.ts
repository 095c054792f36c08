/**
 * A generated order stream for the aggregation tests: Debezium-shaped inserts
 * into `<prefix>.public.orders` (key id), with customer, amount in cents and
 * the event time also as a column (ts_ms = source.ts_ms), so SQL over the raw
 * rows can compute the same per-minute aggregation.
 */
import type { Producer } from 'kafkajs';
import { changeEvent, encodeEvent, int32, int64, tableEvents, type TableEvents } from './debezium-events.js';

export const ORDER_BASE_TS = Date.UTC(2026, 0, 1, 12, 0, 0);

export function ordersTable(topic: string): Promise<TableEvents> {
  return tableEvents(topic, [
    { name: 'id', schema: int64(), key: true },
    { name: 'customer_id', schema: int64(), key: false },
    { name: 'amount_cents', schema: int32(), key: false },
    { name: 'ts_ms', schema: int64(), key: false },
  ]);
}

export class OrderStream {
  private nextId = 1;
  produced = 0;
  /** Every order produced (customer, event time, amount), for expected results computed here. */
  readonly rows: { customer: number; ts: number; amount: number }[] = [];

  constructor(
    private readonly table: TableEvents,
    private readonly options: { customers: number; stepMs: number; jitterMs: number },
  ) {}

  /** Produces `count` orders in one send; event times advance stepMs per order, with jitter (out of order). */
  async produce(producer: Producer, count: number): Promise<void> {
    const messages = [];
    for (let i = 0; i < count; i++) {
      const id = this.nextId++;
      const jitter = Math.floor((Math.random() * 2 - 1) * this.options.jitterMs);
      const ts = ORDER_BASE_TS + id * this.options.stepMs + jitter;
      const row = { id, customer_id: 1 + Math.floor(Math.random() * this.options.customers), amount_cents: 1 + Math.floor(Math.random() * 10_000), ts_ms: ts };
      this.rows.push({ customer: row.customer_id, ts, amount: row.amount_cents });
      messages.push(encodeEvent(this.table, { key: { id }, event: changeEvent('orders', 'c', null, row, ts) }));
    }
    await producer.send({ topic: this.table.topic, acks: -1, messages });
    this.produced += count;
  }
}

/** Per customer and minute: [orders, revenue], keyed `customer@minuteStartMs`. */
export function perMinute(rows: OrderStream['rows']): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const row of rows) {
    const key = `${row.customer}@${Math.floor(row.ts / 60_000) * 60_000}`;
    const [orders, revenue] = out.get(key) ?? [0, 0];
    out.set(key, [orders + 1, revenue + row.amount]);
  }
  return out;
}
