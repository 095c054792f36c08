/**
 * The first slice end to end on real services: PostgreSQL changes flow through
 * the postgres source into Kafka (Debezium shape, exactly-once offsets) and
 * through the clickhouse sink into a ReplacingMergeTree table, whose view
 * must equal the PostgreSQL table row for row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { SOURCE_OFFSETS_TOPIC } from '../../src/kafka/source-offsets.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import type { ChangeEvent } from '../../src/core/events.js';
import type { PostgresSourceBlock } from '../../src/sources/postgres/source-block.js';
import { DEFAULT_FORMAT } from '../../src/serde/index.js';
import { keyOf, loadSchemas, testConverter, valueOf } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const fixture = new TableFixture('orders');
const { services, suffix, table, prefix, database, topic, sourceName, client, clickhouse } = fixture;

interface PgRow {
  id: string;
  customer: string;
  amount: string;
  qty: number | null;
  note: string | null;
  created: string;
  updated_at: string;
}

const PG_ROWS_SQL = `
  SELECT id::text, customer, amount::text, qty, note,
         to_char(created, 'YYYY-MM-DD') AS created,
         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS updated_at
  FROM public.${table} ORDER BY id`;

const chRowsSql = (view: string): string => `
  SELECT toString(id) AS id, customer, toString(amount) AS amount, qty, note,
         toString(created) AS created, toString(toDateTime(updated_at)) AS updated_at
  FROM ${database}.${view} ORDER BY id`;

describe('postgres → kafka → clickhouse', () => {
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    await fixture.create(`
        id bigint PRIMARY KEY,
        customer text NOT NULL,
        amount numeric(12, 2) NOT NULL,
        qty integer,
        note text,
        created date NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()`);
    daemon = await startDaemon(fixture.connectorFiles());
    await eventually('both connectors running', async () =>
      daemon!.statuses().every((status) => status.state === 'running') ? true : undefined,
    );
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('ends with the ClickHouse view equal to the PostgreSQL table after inserts, updates and deletes', async () => {
    // Inserts: one transaction larger than Kafka's 1 MiB request limit, a
    // single-row one with awkward text.
    await client.query(`
      INSERT INTO public.${table} (id, customer, amount, qty, note, created)
      SELECT g, 'customer ' || (g % 7), (g * 10.25)::numeric(12,2), CASE WHEN g % 5 = 0 THEN NULL ELSE g END,
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, DATE '2024-01-01' + g
      FROM generate_series(1, 2000) AS g`);
    await client.query(`INSERT INTO public.${table} (id, customer, amount, qty, note, created) VALUES ($1, $2, $3, $4, $5, $6)`, [
      5001, 'tab\there', '-0.01', 0, 'line\nbreak \\ backslash \'quote\'', '1999-12-31',
    ]);
    // Updates: many rows in one transaction, then the same row several times.
    await client.query(`UPDATE public.${table} SET amount = amount + 1, note = 'updated', updated_at = now() WHERE id % 4 = 0`);
    for (let i = 0; i < 5; i++) await client.query(`UPDATE public.${table} SET qty = $1 WHERE id = 7`, [100 + i]);
    await client.query(`UPDATE public.${table} SET note = NULL WHERE id = 8`);
    // Deletes: a range, and a row updated before.
    await client.query(`DELETE FROM public.${table} WHERE id BETWEEN 50 AND 59`);
    await client.query(`DELETE FROM public.${table} WHERE id = 7`);
    // A deleted key inserted again.
    await client.query(`INSERT INTO public.${table} (id, customer, amount, qty, note, created) VALUES (50, 'back again', 1.5, 1, NULL, '2024-06-01')`);

    const expected = (await client.query<PgRow>(PG_ROWS_SQL)).rows;
    expect(expected).toHaveLength(2000 + 1 - 11 + 1);

    const actual = await eventually(
      'the ClickHouse view to equal the PostgreSQL table',
      async () => {
        const rows = await clickhouse.rows<PgRow>(chRowsSql(`${table}_current`));
        return JSON.stringify(rows) === JSON.stringify(expected) ? rows : undefined;
      },
      90_000,
    ).catch(async (error: unknown) => {
      // Show the difference rather than only the timeout.
      const rows = await clickhouse.rows<PgRow>(chRowsSql(`${table}_current`));
      expect(rows).toEqual(expected);
      throw error;
    });
    expect(actual).toEqual(expected);

    // The underlying table holds deletes as _deleted = 1 rows with the change LSN as version.
    const [deleted] = await clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${database}.${table} FINAL WHERE _deleted = 1`,
    );
    expect(deleted?.n).toBe('10');
  });

  it('writes Debezium-shaped events and a committed source offset to Kafka', async () => {
    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `it-reader-${suffix}`, readUncommitted: false });
    // This source's offset record of the transaction that deleted id 7 (or a later one): its LSN covers every event of id 7.
    const offsetCovers = (messages: typeof seen): boolean => {
      const lsns = messages.filter((m) => m.topic === topic && m.valueBytes !== null && keyOf(m.keyBytes)?.id === 7).map((m) => BigInt(valueOf(m.valueBytes)!.source.lsn!));
      return messages.some((m) => m.topic === SOURCE_OFFSETS_TOPIC && m.key === sourceName && lsns.every((lsn) => BigInt(JSON.parse(m.value!).lsn) >= lsn));
    };
    const seen: { topic: string; key: string | null; value: string | null; keyBytes: Buffer | null; valueBytes: Buffer | null }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic, SOURCE_OFFSETS_TOPIC], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: from, message }) => {
        if (from === topic) await loadSchemas(message.key, message.value);
        seen.push({ topic: from, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, keyBytes: message.key, valueBytes: message.value });
      },
    });
    try {
      // The offsets topic is shared by every source that ever ran on this Kafka: read on until this source's record is in.
      await eventually('the delete of id 7, its tombstone and the source offset record', async () =>
        seen.some((m) => m.topic === topic && m.value === null && keyOf(m.keyBytes)?.id === 7) && offsetCovers(seen) ? true : undefined,
      );
    } finally {
      await consumer.disconnect();
    }

    const forId7 = seen.filter((m) => m.topic === topic && keyOf(m.keyBytes)?.id === 7);
    const ops = forId7.map((m) => (m.valueBytes === null ? 'tombstone' : valueOf(m.valueBytes)!.op));
    expect(ops).toEqual(['c', 'u', 'u', 'u', 'u', 'u', 'd', 'tombstone']);

    // The daemon's format (TIDELINE_FORMAT, else the default, avro): Confluent's wire format starts with byte 0.
    const format = process.env.TIDELINE_FORMAT || DEFAULT_FORMAT;
    expect(forId7.map((m) => m.keyBytes![0])).toEqual(Array(8).fill(format === 'avro' ? 0 : '{'.charCodeAt(0)));
    expect(forId7[0]!.valueBytes![0]).toBe(format === 'avro' ? 0 : '{'.charCodeAt(0));
    const created = testConverter.decodeValue<ChangeEvent<PostgresSourceBlock>>(forId7[0]!.valueBytes!);
    const create = { schema: created.schema.schema!, payload: created.value };
    expect(create.schema.name).toBe(`${topic}.Envelope`);
    expect(create.payload.before).toBeNull();
    expect(create.payload.after).toEqual({
      id: 7, customer: 'customer 0', amount: '71.75', qty: 7, note: 'note 7', created: 19_730, updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
    });
    expect(create.payload.source).toMatchObject({ connector: 'postgresql', name: prefix, schema: 'public', table, snapshot: 'false' });
    expect(typeof create.payload.source.lsn).toBe('number');
    expect(typeof create.payload.source.txId).toBe('number');
    const decodedKey = testConverter.decodeKey(forId7[0]!.keyBytes!);
    const key = { schema: decodedKey.schema.schema, payload: decodedKey.value };
    expect(key).toEqual({ schema: expect.objectContaining({ name: `${topic}.Key` }), payload: { id: 7 } });

    const deleteEvent = valueOf(forId7[6]!.valueBytes)!;
    expect(deleteEvent.after).toBeNull();
    expect(deleteEvent.before).toMatchObject({ id: 7, customer: null });

    // Per key, the LSNs grow in commit order.
    const lsns = forId7.filter((m) => m.valueBytes !== null).map((m) => valueOf(m.valueBytes)!.source.lsn!);
    expect([...lsns].sort((a, b) => a - b)).toEqual(lsns);

    const offsets = seen.filter((m) => m.topic === SOURCE_OFFSETS_TOPIC && m.key === sourceName);
    expect(offsets.length).toBeGreaterThan(0);
    const lastOffset = JSON.parse(offsets.at(-1)!.value!);
    expect(lastOffset.lsnText).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(BigInt(lastOffset.lsn)).toBeGreaterThanOrEqual(BigInt(Math.max(...lsns)));
  });
});
