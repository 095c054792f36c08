/**
 * `tsx bench/insert-formats.ts`: the sink's insert in TabSeparated against
 * RowBinary, on ClickHouse alone (TIDELINE_CLICKHOUSE_URL, e.g. from
 * `eval "$(bash stack/env)"`). Rows of bench/main.ts's 10-column table are
 * made into row images as the sink makes them (eventToRows), then encoded
 * (TabSeparated lines or RowBinary bytes, the client's cost) and inserted
 * (the server's cost), in batches of --batch rows (default 100,000), the two
 * formats alternating --rounds times (default 5). Prints rows/s of each part
 * and of both together, median over the rounds.
 * Options: --rows N per round (default 200,000), --batch N, --rounds N.
 */
import { parseArgs } from 'node:util';
import type { ChangeEvent, ColumnSchema } from '../src/core/events.js';
import { SemanticType, SourceTypeParameter } from '../src/core/connect-schema.js';
import { ByteWriter } from '../src/sinks/clickhouse/row-binary.js';
import { eventToRows, rowToTsvLine, writeRowBinary } from '../src/sinks/clickhouse/rows.js';
import { ClickHouseServer } from '../src/sinks/clickhouse/server.js';
import { createTableSql, insertColumns, planTable } from '../src/sinks/clickhouse/table-plan.js';
import { qualified } from '../src/sinks/clickhouse/sql.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000' }, batch: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } } });
const ROWS = Number(values.rows);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const url = process.env.TIDELINE_CLICKHOUSE_URL;
if (!url) throw new Error('TIDELINE_CLICKHOUSE_URL is not set: eval "$(bash stack/env)" first');

const numeric = { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '12', [SourceTypeParameter.scale]: '2' };
const COLUMNS: ColumnSchema[] = [
  { name: 'id', key: true, schema: { type: 'int64', optional: false } },
  { name: 'a', key: false, schema: { type: 'int32', optional: true } },
  { name: 'b', key: false, schema: { type: 'int64', optional: true } },
  { name: 'c', key: false, schema: { type: 'string', optional: true } },
  { name: 'd', key: false, schema: { type: 'string', optional: true, parameters: numeric } },
  { name: 'e', key: false, schema: { type: 'string', optional: true, name: SemanticType.ZonedTimestamp } },
  { name: 'f', key: false, schema: { type: 'boolean', optional: true } },
  { name: 'g', key: false, schema: { type: 'double', optional: true } },
  { name: 'h', key: false, schema: { type: 'string', optional: true } },
  { name: 'i', key: false, schema: { type: 'int32', optional: true, name: SemanticType.Date } },
];

function event(g: number): ChangeEvent {
  return {
    op: 'c',
    before: null,
    after: {
      id: g,
      a: g % 1000,
      b: g * 7,
      c: `customer-${g % 977}`,
      d: ((g % 100_000) / 100).toFixed(2),
      e: '2026-11-30T08:00:00.123456Z',
      f: g % 2 === 0,
      g: g / 3,
      h: `status-${g % 5}`,
      i: 19_723 + (g % 365),
    },
    source: { version: '0.1.0', connector: 'postgresql', name: 'bench', ts_ms: 1, snapshot: 'false', db: 'd', schema: 'public', table: 't' },
    ts_ms: 2,
  };
}

const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;

async function main(): Promise<void> {
  const server = new ClickHouseServer(url!, process.env.TIDELINE_CLICKHOUSE_USER ?? 'default', process.env.TIDELINE_CLICKHOUSE_PASSWORD);
  const features = await server.features();
  const database = 'bench_insert_formats';
  await server.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
  const bytes = new ByteWriter(1024 * 1024);
  const results: Record<'TabSeparated' | 'RowBinary', { encode: number[]; insert: number[] }> = { TabSeparated: { encode: [], insert: [] }, RowBinary: { encode: [], insert: [] } };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const format of ['TabSeparated', 'RowBinary'] as const) {
        const table = `t_${format}`;
        await server.command(`DROP TABLE IF EXISTS ${database}.${table}`);
        const plan = planTable(database, table, '_current', COLUMNS, ['id'], features);
        await server.command(createTableSql(plan));
        let encodeMs = 0;
        let insertMs = 0;
        for (let from = 0; from < ROWS; from += BATCH) {
          // Row images as the sink has them before encoding (made outside the timing).
          const images = [];
          for (let g = from + 1; g <= Math.min(ROWS, from + BATCH); g++) images.push(...eventToRows(plan, event(g), g));
          let started = performance.now();
          let body: string | Buffer;
          if (format === 'TabSeparated') {
            body = `${images.map(rowToTsvLine).join('\n')}\n`;
          } else {
            // As the sink does: every row into the insert's one buffer.
            bytes.reset();
            for (const image of images) writeRowBinary(image, bytes);
            body = bytes.view(0, bytes.length);
          }
          encodeMs += performance.now() - started;
          started = performance.now();
          if (typeof body === 'string') await server.insertTabSeparated(qualified(database, table), insertColumns(plan), body);
          else await server.insertRowBinary(qualified(database, table), insertColumns(plan), body);
          insertMs += performance.now() - started;
        }
        const [count] = await server.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}`);
        if (count?.n !== String(ROWS)) throw new Error(`${format}: ${count?.n} rows instead of ${ROWS}`);
        results[format].encode.push((ROWS / encodeMs) * 1000);
        results[format].insert.push((ROWS / insertMs) * 1000);
      }
    }
    console.log(`ClickHouse ${features.version}, ${ROWS} rows per round in batches of ${BATCH}, ${ROUNDS} rounds (median rows/s):`);
    for (const [format, { encode, insert }] of Object.entries(results)) {
      const total = 1 / (1 / median(encode) + 1 / median(insert));
      console.log(`  ${format.padEnd(12)} encode ${Math.round(median(encode)).toLocaleString('en')}/s  insert ${Math.round(median(insert)).toLocaleString('en')}/s  both ${Math.round(total).toLocaleString('en')}/s`);
    }
  } finally {
    await server.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await server.close();
  }
}

await main();
