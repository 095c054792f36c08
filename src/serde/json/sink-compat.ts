/**
 * The old src/core/serde/json.ts functions the ClickHouse sink still calls,
 * until it decodes through ConnectorContext.converter (decodeValue with its
 * per-topic hint, decodeKey). Nothing else may use them; delete this file then.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import { parseEnvelope } from './envelope.js';

export { parseJson } from './lossless.js';
export { schemaPrefix } from './envelope.js';

/** @deprecated use Converter.decodeKey / decodeValue. */
export function decodeJsonMessage<T>(bytes: Buffer | string): { schema: ConnectSchema | null; payload: T } {
  const decoded = parseEnvelope(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  return { schema: decoded.schema, payload: decoded.payload as T };
}
