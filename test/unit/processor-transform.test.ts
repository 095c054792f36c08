import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envelopeSchema, keySchema, type ColumnSchema, type Row } from '../../src/core/events.js';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import { TransformChain } from '../../src/processors/transform/chain.js';
import { castValue } from '../../src/processors/transform/cast.js';
import type { RecordSchemas, TransformRecord } from '../../src/processors/transform/record.js';
import { transformStepSchema } from '../../src/processors/transform/spec.js';
import { createStep } from '../../src/processors/transform/steps.js';
import { TransformError } from '../../src/processors/transform/step.js';
import { postgresSourceBlock } from '../../src/sources/postgres/source-block.js';

const columns: ColumnSchema[] = [
  { name: 'id', schema: { type: 'int64', optional: false }, key: true },
  { name: 'email', schema: { type: 'string', optional: true }, key: false },
  { name: 'amount', schema: { type: 'string', optional: true, name: 'decimal', parameters: { '__debezium.source.column.type': 'NUMERIC' } }, key: false },
  { name: 'region', schema: { type: 'string', optional: false }, key: false },
];
const topic = 'shop.public.customers';
const schemas: RecordSchemas = { shape: 'envelope', key: keySchema(topic, columns), value: envelopeSchema(topic, columns, postgresSourceBlock.schema) };

function chain(...steps: unknown[]): TransformChain {
  return new TransformChain(steps.map((step) => createStep(transformStepSchema.parse(step))));
}

function envelope(op: string, before: Row | null, after: Row | null): TransformRecord {
  return {
    topic,
    key: { id: (after ?? before)!.id },
    value: { before, after, op, source: { ts_ms: 1_700_000_000_000, lsn: 42, table: 'customers' }, ts_ms: 1_700_000_000_500 },
  };
}

const row = (id: number, amount = '10.50'): Row => ({ id, email: `c${id}@example.com`, amount, region: id % 2 ? 'eu' : 'us' });

async function run(transform: TransformChain, record: TransformRecord) {
  const plan = transform.plan(schemas);
  const result = await transform.apply(record, plan);
  return { record: result.record, droppedBy: result.droppedBy, schemas: plan.output };
}

function fieldsOf(schema: ConnectSchema | null, field?: string): [string | undefined, string][] {
  const struct = field ? schema?.fields?.find((f) => f.field === field) : schema;
  return (struct?.fields ?? []).map((f) => [f.field, f.type]);
}

describe('transform steps', () => {
  it('filter keeps records whose expression is true and passes tombstones', async () => {
    const transform = chain({ type: 'filter', expression: "op = 'c' and after.region = 'eu'" });
    expect((await run(transform, envelope('c', null, row(1)))).record).not.toBeNull();
    expect(await run(transform, envelope('c', null, row(2)))).toMatchObject({ record: null, droppedBy: 'filter' });
    expect((await run(transform, { topic, key: { id: 1 }, value: null })).record).toMatchObject({ value: null });
  });

  it('keep and drop change the row images and the schema, not the key', async () => {
    const kept = await run(chain({ type: 'keep', fields: ['id', 'region'] }), envelope('u', row(1), row(1, '11')));
    expect(kept.record?.value).toMatchObject({ before: { id: 1, region: 'eu' }, after: { id: 1, region: 'eu' } });
    expect(fieldsOf(kept.schemas.value, 'after')).toEqual([['id', 'int64'], ['region', 'string']]);
    const dropped = await run(chain({ type: 'drop', fields: ['email'] }), envelope('c', null, row(1)));
    expect(Object.keys(dropped.record!.value!.after as Row)).toEqual(['id', 'amount', 'region']);
    expect(fieldsOf(dropped.schemas.key)).toEqual([['id', 'int64']]);
  });

  it('rename applies to row images, key and both schemas', async () => {
    const renamed = await run(chain({ type: 'rename', fields: { id: 'customer_id', email: 'mail' } }), envelope('c', null, row(3)));
    expect(renamed.record?.key).toEqual({ customer_id: 3 });
    expect(Object.keys(renamed.record!.value!.after as Row)).toEqual(['customer_id', 'mail', 'amount', 'region']);
    expect(fieldsOf(renamed.schemas.key)).toEqual([['customer_id', 'int64']]);
    expect(fieldsOf(renamed.schemas.value, 'before').map(([name]) => name)).toEqual(['customer_id', 'mail', 'amount', 'region']);
  });

  it('mask replaces values with text and hash with a salted digest, in the key too', async () => {
    const masked = await run(chain({ type: 'mask', fields: ['email', 'id'], replacement: 'xxx' }), envelope('u', row(1), { ...row(1), email: null }));
    expect(masked.record?.value).toMatchObject({ before: { email: 'xxx', id: 'xxx' }, after: { email: null } });
    expect(masked.record?.key).toEqual({ id: 'xxx' });
    expect(fieldsOf(masked.schemas.key)).toEqual([['id', 'string']]);
    const hashed = await run(chain({ type: 'hash', fields: ['email'], salt: 's' }), envelope('c', null, row(1)));
    expect((hashed.record!.value!.after as Row).email).toBe(createHash('sha256').update('sc1@example.com').digest('hex'));
    const again = await run(chain({ type: 'hash', fields: ['email'], salt: 's' }), envelope('c', null, row(1)));
    expect((again.record!.value!.after as Row).email).toBe((hashed.record!.value!.after as Row).email);
    const otherSalt = await run(chain({ type: 'hash', fields: ['email'], salt: 't' }), envelope('c', null, row(1)));
    expect((otherSalt.record!.value!.after as Row).email).not.toBe((hashed.record!.value!.after as Row).email);
  });

  it('cast converts values and rewrites the schema without the semantic name', async () => {
    const cast = await run(chain({ type: 'cast', fields: { amount: 'double', id: 'string' } }), envelope('c', null, row(1, '10.50')));
    expect(cast.record?.value?.after).toMatchObject({ id: '1', amount: 10.5 });
    expect(cast.record?.key).toEqual({ id: '1' });
    const amount = cast.schemas.value?.fields?.find((f) => f.field === 'after')?.fields?.find((f) => f.field === 'amount');
    expect(amount).toEqual({ type: 'double', optional: true, field: 'amount' });
    expect(castValue('9007199254740993', 'int64', 'x')).toBe(9007199254740993n);
    expect(castValue('12', 'int32', 'x')).toBe(12);
    expect(castValue('yes', 'boolean', 'x')).toBe(true);
    expect(() => castValue('abc', 'double', 'x')).toThrow(TransformError);
    expect(() => castValue(2 ** 40, 'int32', 'x')).toThrow(TransformError);
  });

  it('compute adds typed columns from expressions over each row image', async () => {
    const computed = await run(
      chain({ type: 'compute', fields: { label: { expression: "region & '-' & id" }, big: { expression: '$number(amount) > 10', type: 'boolean' } } }),
      envelope('u', row(1, '9'), row(1, '11')),
    );
    expect(computed.record?.value).toMatchObject({ before: { label: 'eu-1', big: false }, after: { label: 'eu-1', big: true } });
    expect(fieldsOf(computed.schemas.value, 'after').slice(-2)).toEqual([['label', 'string'], ['big', 'boolean']]);
  });

  it('route names the destination topic; a non-topic result is an error', async () => {
    const routed = await run(chain({ type: 'route', expression: "'orders.' & after.region" }), envelope('c', null, row(2)));
    expect(routed.record?.destination).toBe('orders.us');
    expect((await run(chain({ type: 'route', expression: 'after.missing' }), envelope('c', null, row(2)))).record?.destination).toBeUndefined();
    await expect(run(chain({ type: 'route', expression: "'bad topic!'" }), envelope('c', null, row(2)))).rejects.toThrow(TransformError);
  });

  it("unwrap flattens like Debezium's ExtractNewRecordState (rewrite, op and source.ts_ms)", async () => {
    const transform = chain({ type: 'unwrap' });
    const created = await run(transform, envelope('c', null, row(1)));
    expect(created.record?.value).toEqual({ ...row(1), __op: 'c', __source_ts_ms: 1_700_000_000_000, __deleted: 'false' });
    expect(created.schemas.shape).toBe('row');
    expect(fieldsOf(created.schemas.value)).toEqual([['id', 'int64'], ['email', 'string'], ['amount', 'string'], ['region', 'string'], ['__op', 'string'], ['__source_ts_ms', 'int64'], ['__deleted', 'string']]);
    expect((await run(transform, envelope('d', row(1), null))).record?.value).toMatchObject({ id: 1, __op: 'd', __deleted: 'true' });
    expect((await run(transform, { topic, key: { id: 1 }, value: null })).record).toBeNull();
    expect((await run(chain({ type: 'unwrap', dropTombstones: false }), { topic, key: { id: 1 }, value: null })).record).toMatchObject({ value: null });
    expect((await run(chain({ type: 'unwrap', deleteHandling: 'drop' }), envelope('d', row(1), null))).record).toBeNull();
    expect((await run(chain({ type: 'unwrap', deleteHandling: 'none' }), envelope('d', row(1), null))).record).toMatchObject({ value: null });
    const plain = await run(chain({ type: 'unwrap', deleteHandling: 'drop', addFields: ['source.lsn', 'ts_ms'] }), envelope('u', row(1), row(1)));
    expect(plain.record?.value).toEqual({ ...row(1), __source_lsn: 42, __ts_ms: 1_700_000_000_500 });
  });

  it('steps after unwrap see the flat row', async () => {
    const transform = chain({ type: 'unwrap' }, { type: 'filter', expression: "__op = 'c' and region = 'eu'" }, { type: 'drop', fields: ['__deleted'] }, { type: 'mask', fields: ['email'] });
    const out = await run(transform, envelope('c', null, row(1)));
    expect(out.record?.value).toEqual({ id: 1, email: '****', amount: '10.50', region: 'eu', __op: 'c', __source_ts_ms: 1_700_000_000_000 });
    expect((await run(transform, envelope('c', null, row(2)))).droppedBy).toBe('filter');
  });
});

describe('float special values through transform steps', () => {
  const floatColumns: ColumnSchema[] = [
    { name: 'id', schema: { type: 'int64', optional: false }, key: true },
    { name: 'ratio', schema: { type: 'double', optional: true }, key: false },
  ];
  const floatTopic = 'shop.public.ratios';
  const floatSchemas: RecordSchemas = {
    shape: 'envelope',
    key: keySchema(floatTopic, floatColumns),
    value: envelopeSchema(floatTopic, floatColumns, postgresSourceBlock.schema),
  };

  it('filters, computes and unwraps beside NaN, ±Infinity and -0, keeping them as they are', async () => {
    const transform = chain(
      { type: 'filter', expression: 'after.id > 0' },
      { type: 'compute', fields: { twice: { expression: 'id * 2', type: 'int64' } } },
      { type: 'unwrap' },
    );
    const plan = transform.plan(floatSchemas);
    for (const ratio of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 5e-324]) {
      const record: TransformRecord = {
        topic: floatTopic,
        key: { id: 1 },
        value: { before: null, after: { id: 1, ratio }, op: 'c', source: { ts_ms: 1_700_000_000_000, lsn: 42, table: 'ratios' }, ts_ms: 1_700_000_000_500 },
      };
      const result = await transform.apply(record, plan);
      const value = result.record?.value as Row;
      expect(value.twice, String(ratio)).toBe(2);
      expect(Object.is(value.ratio, ratio), String(ratio)).toBe(true);
    }
  });

  it('compares them in filters as JavaScript does (NaN is not greater than anything)', async () => {
    const transform = chain({ type: 'filter', expression: 'after.ratio > 1' });
    const plan = transform.plan(floatSchemas);
    const kept = async (ratio: number) =>
      (await transform.apply({ topic: floatTopic, key: { id: 1 }, value: { before: null, after: { id: 1, ratio }, op: 'c', source: { ts_ms: 1, lsn: 42, table: 'ratios' }, ts_ms: 2 } }, plan)).record !== null;
    expect(await kept(Number.POSITIVE_INFINITY)).toBe(true);
    expect(await kept(Number.NEGATIVE_INFINITY)).toBe(false);
    expect(await kept(Number.NaN)).toBe(false);
    expect(await kept(-0)).toBe(false);
  });
});
