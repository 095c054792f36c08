/**
 * Converters by format name. `json` is the only format today; Avro with a
 * schema registry comes in a later issue as a second implementation of
 * Converter.
 */
import { FORMATS, type Converter, type FormatName } from './converter.js';
import { JsonConverter } from './json/json-converter.js';

export { DecodeError, FORMATS } from './converter.js';
export type { ConnectData, Converter, FormatName, MessagePart, SchemaEncoder, SchemaEntry } from './converter.js';

export const DEFAULT_FORMAT: FormatName = 'json';

export function isFormat(name: unknown): name is FormatName {
  return typeof name === 'string' && (FORMATS as readonly string[]).includes(name);
}

/** Why `name` is not a format, for config errors. */
export function unknownFormatMessage(name: unknown): string {
  return `unknown format ${JSON.stringify(name)}; known formats: ${FORMATS.join(', ')} (avro comes with the schema registry, in a later release)`;
}

/** A new converter (with its own schema cache) for `format`. */
export function createConverter(format: FormatName): Converter {
  switch (format) {
    case 'json':
      return new JsonConverter();
  }
}
