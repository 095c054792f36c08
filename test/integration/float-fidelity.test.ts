/**
 * Doubles and reals arrive bit-exact in ClickHouse, on whatever server the
 * stack runs (18.16 natively, whose text float parser is off by one ulp for
 * some values): 100,000 generated values (g/7, g/3, random finite bit
 * patterns, subnormals, ±0, ±max) plus NaN and ±Infinity go through the
 * source, Kafka and the sink, and their bits are compared with
 * reinterpretAsUInt64/UInt32, not as printed text. A column whose type was
 * altered by hand is written in its new type. numeric 'NaN' is refused into
 * the dead-letter topic with an error naming its column.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { Daemon } from '../../src/runtime/daemon.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const VALUES = 100_000;
const INSERT_ROWS = 5_000;
const fixture = new TableFixture('floats');
const { services, suffix, table, database, sinkName, client, clickhouse } = fixture;

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

const doubleBits = (value: number): string => {
  f64[0] = value;
  return u64[0]!.toString();
};
const realBits = (value: number): string => {
  f32[0] = value;
  return String(u32[0]!);
};

/** A deterministic pseudo-random 32-bit generator (mulberry32): a failure reproduces. */
function random32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A double from two 32-bit halves; the exponent forced below all-ones (finite), or to 0 for a subnormal. */
function doubleFromBits(high: number, low: number, subnormal: boolean): number {
  const view = new DataView(new ArrayBuffer(8));
  let top = high;
  if (subnormal) top &= 0x800f_ffff;
  else if (((top >>> 20) & 0x7ff) === 0x7ff) top &= 0xffefffff; // exponent 0x7fe: the largest finite one
  view.setUint32(0, top >>> 0);
  view.setUint32(4, low);
  return view.getFloat64(0);
}

/** A float32 from 32 bits, made finite (or subnormal) as above. */
function realFromBits(bits: number, subnormal: boolean): number {
  let value = bits;
  if (subnormal) value &= 0x807f_ffff;
  else if (((value >>> 23) & 0xff) === 0xff) value &= 0xff7f_ffff;
  u32[0] = value >>> 0;
  return f32[0]!;
}

/** The generated pairs (x double, r real), each row's values chosen by its id. */
function generate(): { x: number; r: number }[] {
  const next = random32(20_261_130);
  const edges = [0, -0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, 20 / 7];
  const realEdges = [0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 1.1754943508222875e-38, Math.fround(0.1)];
  const rows: { x: number; r: number }[] = [];
  for (let index = 0; index < VALUES; index++) {
    const g = Math.floor(index / 5) + 1;
    switch (index % 5) {
      case 0:
        rows.push({ x: g / 7, r: Math.fround(g / 7) });
        break;
      case 1:
        rows.push({ x: g / 3, r: Math.fround(g / 3) });
        break;
      case 2:
        rows.push({ x: doubleFromBits(next(), next(), false), r: realFromBits(next(), false) });
        break;
      case 3:
        rows.push({ x: doubleFromBits(next(), next(), true), r: realFromBits(next(), true) });
        break;
      default:
        rows.push({ x: edges[g % edges.length]!, r: realEdges[g % realEdges.length]! });
    }
  }
  return rows;
}

/** PostgreSQL's input text of a value: the shortest round-trip form (exact), -0 and the special values spelled out. */
function pgText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  return Object.is(value, -0) ? '-0' : String(value);
}

describe('float fidelity', () => {
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY, x double precision, r real, n numeric(10, 2)');
    daemon = await startDaemon(fixture.connectorFiles());
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it(`writes ${VALUES} doubles and reals plus NaN and ±Infinity bit-exact`, async () => {
    const rows = generate();
    const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    specials.forEach((value, index) => rows.push({ x: value, r: specials[(index + 1) % 3]! }));
    for (let from = 0; from < rows.length; from += INSERT_ROWS) {
      const chunk = rows.slice(from, from + INSERT_ROWS);
      await client.query(`INSERT INTO public.${table} (id, x, r) SELECT * FROM unnest($1::int[], $2::float8[], $3::float4[])`, [
        chunk.map((_, index) => from + index + 1),
        chunk.map((row) => pgText(row.x)),
        chunk.map((row) => pgText(row.r)),
      ]);
    }
    // PostgreSQL holds exactly the generated values (float8send/float4send: the big-endian bits).
    const stored = await client.query<{ id: number; x: string; r: string }>(
      `SELECT id, ('x' || encode(float8send(x), 'hex'))::bit(64)::bigint::text AS x, ('x' || encode(float4send(r), 'hex'))::bit(32)::int::text AS r FROM public.${table} WHERE id % 97 = 0 ORDER BY id`,
    );
    for (const row of stored.rows) {
      expect(BigInt.asUintN(64, BigInt(row.x)).toString(), `PostgreSQL x of ${row.id}`).toBe(doubleBits(rows[row.id - 1]!.x));
      expect(String(Number(row.r) >>> 0), `PostgreSQL r of ${row.id}`).toBe(realBits(rows[row.id - 1]!.r));
    }

    await eventually(`${rows.length} rows in ClickHouse`, async () => {
      const [count] = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}_current`).catch(() => []);
      return count?.n === String(rows.length) ? true : undefined;
    }, 120_000);
    // 18.16 has no reinterpretAsUInt64(Float64): through the bytes (reinterpretAsString drops
    // trailing zero bytes, which reinterpretAsUInt64 pads back).
    const text = await clickhouse.text(
      `SELECT id, reinterpretAsUInt64(reinterpretAsString(assumeNotNull(x))), reinterpretAsUInt32(reinterpretAsString(assumeNotNull(r))), isNaN(assumeNotNull(x)), isNaN(assumeNotNull(r)) FROM ${database}.${table}_current ORDER BY id`,
    );
    const wrong: string[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const [id, x, r, xNaN, rNaN] = line.split('\t');
      const row = rows[Number(id) - 1]!;
      const xOk = Number.isNaN(row.x) ? xNaN === '1' : x === doubleBits(row.x);
      const rOk = Number.isNaN(row.r) ? rNaN === '1' : r === realBits(row.r);
      if (!xOk || !rOk) wrong.push(`id ${id}: x ${pgText(row.x)} (bits ${doubleBits(row.x)}) got ${x}; r ${pgText(row.r)} (bits ${realBits(row.r)}) got ${r}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(text.split('\n').filter(Boolean)).toHaveLength(rows.length);
    // The special values as ClickHouse prints them.
    const special = await clickhouse.text(`SELECT x, r FROM ${database}.${table}_current WHERE id > ${VALUES} ORDER BY id`);
    expect(special).toBe('nan\tinf\ninf\t-inf\n-inf\tnan\n');
  });

  it('re-reads the column types when a column was altered by hand (RowBinary carries no types)', async () => {
    // Float32 -> Float64: the 4 bytes the plan would write no longer fit the column; ClickHouse refuses the insert,
    // the sink reads the types again and writes the row in the new ones.
    await clickhouse.command(`ALTER TABLE ${database}.${table} MODIFY COLUMN r Nullable(Float64)`);
    await client.query(`INSERT INTO public.${table} (id, x, r) VALUES (-3, 1.5, 0.1)`);
    const row = await eventually('the row written after the ALTER', async () => {
      const [found] = await clickhouse.rows<{ x: number; r: string }>(
        `SELECT x, toString(reinterpretAsUInt64(reinterpretAsString(assumeNotNull(r)))) AS r FROM ${database}.${table}_current WHERE id = -3`,
      );
      return found;
    });
    // The event carries the real as its shortest text, 0.1, which a Float64 column takes as the double 0.1.
    expect(row).toEqual({ x: 1.5, r: doubleBits(0.1) });
  });

  it("refuses numeric 'NaN' into the dead-letter topic naming the column, and writes the rows around it", async () => {
    await client.query(`INSERT INTO public.${table} (id, n) VALUES (-1, 'NaN'), (-2, 1.25)`);
    await eventually('the row after the NaN', async () => {
      const [row] = await clickhouse.rows<{ n: string }>(`SELECT toString(n) AS n FROM ${database}.${table}_current WHERE id = -2`).catch(() => []);
      return row?.n === '1.25' ? true : undefined;
    });
    const [absent] = await clickhouse.rows<{ c: string }>(`SELECT toString(count()) AS c FROM ${database}.${table}_current WHERE id = -1`);
    expect(absent?.c).toBe('0');

    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `floats-dlq-${suffix}` });
    const errors: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `${sinkName}.dlq`, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void errors.push(String(message.headers?.['tideline.error'] ?? '')) });
    try {
      await eventually('the dead letter', async () => (errors.length > 0 ? true : undefined));
    } finally {
      await consumer.disconnect();
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("column n: numeric NaN has no value in ClickHouse's Decimal(10, 2)");
  });
});

describe("numeric NaN with nonFiniteNumeric: 'null'", () => {
  const nulls = new TableFixture('nannull');
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    await nulls.create('id integer PRIMARY KEY, n numeric(10, 2)');
    daemon = await startDaemon(nulls.connectorFiles({ sink: { nonFiniteNumeric: "'null'" } }));
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await nulls.cleanup();
  });

  // (A numeric with a precision holds NaN but not ±Infinity: PostgreSQL refuses those as an overflow.)
  it('writes NULL for numeric NaN into the Nullable Decimal column', async () => {
    await nulls.client.query(`INSERT INTO public.${nulls.table} (id, n) VALUES (1, 'NaN'), (2, 1.5)`);
    const rows = await eventually('both rows in ClickHouse', async () => {
      const found = await nulls.clickhouse.rows<{ id: number; n: string | null }>(`SELECT id, toString(n) AS n FROM ${nulls.database}.${nulls.table}_current ORDER BY id`).catch(() => []);
      return found.length === 2 ? found : undefined;
    });
    expect(rows).toEqual([
      { id: 1, n: null },
      { id: 2, n: '1.50' },
    ]);
  });
});
