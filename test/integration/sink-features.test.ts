/**
 * What the ClickHouse sink does with the less common changes, on the real
 * stack: arrays with NULL elements, unchanged TOAST values (never overwritten
 * by the placeholder), TRUNCATE, a table without a primary key, a dropped
 * column (kept in ClickHouse), a type change (dead-lettered with a clear
 * error), and engine settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { Daemon } from '../../src/runtime/daemon.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const fixture = new TableFixture('sinkf');
const { services, suffix, table, database, sinkName, prefix, client, clickhouse } = fixture;
const keyless = `${table}_nk`;

describe('clickhouse sink features', () => {
  let daemon: Daemon | undefined;

  const rows = <T = Record<string, unknown>>(sql: string) => clickhouse.rows<T>(sql);
  const view = (name: string, columns: string) => rows(`SELECT ${columns} FROM ${database}.${name}_current ORDER BY id`);

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, body text, tags text[], nums int[], amount numeric(10,2)');
    // Out of line and uncompressed: an update that leaves body alone sends the unchanged-TOAST marker.
    await client.query(`ALTER TABLE public.${table} ALTER COLUMN body SET STORAGE EXTERNAL`);
    await client.query(`CREATE TABLE public.${keyless} (id int, v text)`);
    await client.query(`ALTER TABLE public.${keyless} REPLICA IDENTITY FULL`);
    daemon = await startDaemon(
      fixture.connectorFiles({
        // Truncate events and keyless tables have null keys, which a compacted topic refuses.
        source: { tables: `[public.${table}, public.${keyless}]`, topicCleanupPolicy: 'delete' },
        sink: {
          topics: `[${prefix}.public.${table}, ${prefix}.public.${keyless}]`,
          engineSettings: '{ index_granularity: 1024 }',
          maxBatchDelayMs: 50,
        },
      }),
    );
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await client.query(`DROP TABLE IF EXISTS public.${keyless}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it('writes arrays as Array(T), NULL elements included, with engine settings on the table', async () => {
    await client.query(`INSERT INTO public.${table} (id, body, tags, nums, amount) VALUES
      (1, 'one', ARRAY['a', NULL, 'it''s', E'tab\\there'], ARRAY[1, NULL, 3], 1.50),
      (2, 'two', NULL, '{}', NULL)`);
    const current = await eventually('the array rows', async () => {
      const found = await view(table, 'toString(id) AS id, tags, nums, toString(amount) AS amount').catch(() => []);
      return found.length === 2 ? found : undefined;
    });
    expect(current).toEqual([
      { id: '1', tags: ['a', null, "it's", 'tab\there'], nums: [1, null, 3], amount: '1.50' },
      { id: '2', tags: [], nums: [], amount: null },
    ]);
    const types = await rows<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}'`);
    expect(Object.fromEntries(types.map((column) => [column.name, column.type]))).toMatchObject({
      tags: 'Array(Nullable(String))',
      nums: 'Array(Nullable(Int32))',
      amount: 'Nullable(Decimal(10, 2))',
    });
    const [create] = await rows<{ statement: string }>(`SHOW CREATE TABLE ${database}.${table} FORMAT JSONEachRow`).catch(async () =>
      rows<{ statement: string }>(`SELECT create_table_query AS statement FROM system.tables WHERE database = '${database}' AND name = '${table}'`),
    );
    expect(create?.statement).toMatch(/index_granularity = 1024/);
  });

  it('never overwrites a stored value with the unchanged-TOAST placeholder', async () => {
    const big = "(SELECT string_agg(md5(g::text || 'x'), '') FROM generate_series(1, 400) AS g)";
    await client.query(`INSERT INTO public.${table} (id, body, tags) VALUES (3, ${big}, ARRAY['t'])`);
    const expected = (await client.query<{ body: string }>(`SELECT body FROM public.${table} WHERE id = 3`)).rows[0]!.body;
    expect(expected.length).toBe(12_800);
    await eventually('the TOASTed row', async () => ((await view(table, 'toString(id) AS id')).length === 3 ? true : undefined));
    // Stored row in ClickHouse: the sink reads body from there.
    await client.query(`UPDATE public.${table} SET amount = 9.99 WHERE id = 3`);
    // Insert and update in one transaction: the update finds body earlier in the same batch.
    await client.query(`BEGIN; INSERT INTO public.${table} (id, body) VALUES (4, ${big}); UPDATE public.${table} SET amount = 4.00 WHERE id = 4; COMMIT`);
    const current = await eventually('both updates', async () => {
      const found = await view(table, 'toString(id) AS id, body, toString(amount) AS amount');
      return found.length === 4 && found[2]!.amount === '9.99' && found[3]?.amount === '4.00' ? found : undefined;
    });
    expect(current[2]).toEqual({ id: '3', body: expected, amount: '9.99' });
    expect(current[3]).toEqual({ id: '4', body: expected, amount: '4.00' });
  });

  it('applies TRUNCATE: every row before it is deleted, rows after it stay', async () => {
    await client.query(`TRUNCATE public.${table}`);
    await client.query(`INSERT INTO public.${table} (id, body) VALUES (10, 'after truncate')`);
    const current = await eventually('only the row after the truncate', async () => {
      const found = await view(table, 'toString(id) AS id, body');
      return found.length === 1 ? found : undefined;
    });
    expect(current).toEqual([{ id: '10', body: 'after truncate' }]);
  });

  it('keeps a table without a primary key: inserts, and with REPLICA IDENTITY FULL updates and deletes', async () => {
    await client.query(`INSERT INTO public.${keyless} VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    await client.query(`UPDATE public.${keyless} SET v = 'B' WHERE id = 2`);
    await client.query(`DELETE FROM public.${keyless} WHERE id = 1`);
    const current = await eventually('the keyless table after update and delete', async () => {
      const found = await view(keyless, 'id, v').catch(() => []);
      return found.length === 2 && found[0]!.v === 'B' ? found : undefined;
    });
    expect(current).toEqual([
      { id: 2, v: 'B' },
      { id: 3, v: 'c' },
    ]);
  });

  it('keeps a dropped column in ClickHouse and no longer writes it', async () => {
    await client.query(`INSERT INTO public.${table} (id, body, amount) VALUES (11, 'before drop', 7.25)`);
    await eventually('the row before the drop', async () => ((await view(table, 'id')).length === 2 ? true : undefined));
    await client.query(`ALTER TABLE public.${table} DROP COLUMN amount`);
    await client.query(`INSERT INTO public.${table} (id, body) VALUES (12, 'after drop')`);
    const current = await eventually('the row after the drop', async () => {
      const found = await view(table, 'toString(id) AS id, body, toString(amount) AS amount');
      return found.length === 3 ? found : undefined;
    });
    expect(current).toEqual([
      { id: '10', body: 'after truncate', amount: null },
      { id: '11', body: 'before drop', amount: '7.25' },
      { id: '12', body: 'after drop', amount: null },
    ]);
  });

  it('dead-letters the events of a type change it cannot apply, with a clear error, and goes on', async () => {
    await client.query(`ALTER TABLE public.${keyless} ALTER COLUMN id TYPE bigint`);
    await client.query(`INSERT INTO public.${keyless} VALUES (4, 'needs Int64')`);
    await client.query(`INSERT INTO public.${table} (id, body) VALUES (13, 'still written')`);
    await eventually('the other table still written', async () => ((await view(table, 'id')).length === 4 ? true : undefined));

    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `sinkf-dlq-${suffix}` });
    const letters: Record<string, string>[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `${sinkName}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        letters.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])));
      },
    });
    try {
      await eventually('the dead letter of the type change', async () => (letters.length > 0 ? true : undefined));
    } finally {
      await consumer.disconnect();
    }
    expect(letters).toHaveLength(1);
    expect(letters[0]!['tideline.error']).toMatch(/type change not applied to .*: id is Nullable\(Int32\) in ClickHouse but the event needs Nullable\(Int64\)/);
    expect(letters[0]!['tideline.source.topic']).toBe(`${prefix}.public.${keyless}`);
    expect(await view(keyless, 'id, v')).toEqual([
      { id: 2, v: 'B' },
      { id: 3, v: 'c' },
    ]);
  });
});
