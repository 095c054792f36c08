/**
 * Converters by format name: `json` (Debezium's JsonConverter with schemas)
 * and `avro` (Confluent's AvroConverter: wire format and a schema registry).
 */
import type { SchemaRegistry } from '../registry/schema-registry.js';
import { AvroConverter } from './avro/avro-converter.js';
import { FORMATS, type Converter, type FormatName } from './converter.js';
import { JsonConverter } from './json/json-converter.js';

export { DecodeError, FORMATS } from './converter.js';
export type { ConnectData, Converter, FormatName, MessagePart, SchemaEncoder, SchemaEntry } from './converter.js';

/** The format of connectors whose file, `--format` and TIDELINE_FORMAT name none. */
export const DEFAULT_FORMAT: FormatName = 'avro';

export function isFormat(name: unknown): name is FormatName {
  return typeof name === 'string' && (FORMATS as readonly string[]).includes(name);
}

/** Why `name` is not a format, for config errors. */
export function unknownFormatMessage(name: unknown): string {
  return `unknown format ${JSON.stringify(name)}; known formats: ${FORMATS.join(', ')}`;
}

/** Whether `format` registers its schemas (and so needs a schema registry). */
export function formatNeedsRegistry(format: FormatName): boolean {
  return format === 'avro';
}

/**
 * A new converter (with its own schema cache) for `format`. `registry`: where
 * a format with registered schemas (avro) registers and fetches them; it must
 * be given for those.
 */
export function createConverter(format: FormatName, registry?: SchemaRegistry): Converter {
  switch (format) {
    case 'json':
      return new JsonConverter();
    case 'avro':
      if (!registry) throw new Error('format avro needs a schema registry');
      return new AvroConverter(registry);
  }
}
