import { describe, expect, it } from 'vitest';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import { decodeJsonMessage, decodePayloadWithPrefix, JsonEnvelopeCodec, schemaPrefix } from '../../src/core/serde/json.js';

const SCHEMA: ConnectSchema = {
  type: 'struct',
  optional: false,
  name: 'demo.public.orders.Key',
  fields: [{ type: 'int64', optional: false, field: 'id' }],
};

describe('JsonEnvelopeCodec', () => {
  it('writes { schema, payload } as JSON', () => {
    const bytes = new JsonEnvelopeCodec(SCHEMA).encode({ id: 1 });
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(JSON.parse(bytes.toString('utf8'))).toEqual({ schema: SCHEMA, payload: { id: 1 } });
    expect(bytes.toString('utf8')).toBe(`{"schema":${JSON.stringify(SCHEMA)},"payload":{"id":1}}`);
  });

  it('encodes null payloads and escapes strings', () => {
    const codec = new JsonEnvelopeCodec(SCHEMA);
    expect(JSON.parse(codec.encode(null).toString())).toEqual({ schema: SCHEMA, payload: null });
    expect(JSON.parse(codec.encode({ note: 'a"b\n\u00e9' }).toString())).toEqual({ schema: SCHEMA, payload: { note: 'a"b\n\u00e9' } });
  });

  it('exposes its schema and round-trips through decodeJsonMessage', () => {
    const codec = new JsonEnvelopeCodec(SCHEMA);
    expect(codec.schema).toBe(SCHEMA);
    expect(decodeJsonMessage(codec.encode({ id: 42 }))).toEqual({ schema: SCHEMA, payload: { id: 42 } });
  });
});

describe('decodeJsonMessage', () => {
  it('reads an envelope from a Buffer or a string', () => {
    const text = JSON.stringify({ schema: SCHEMA, payload: { id: 3 } });
    expect(decodeJsonMessage(Buffer.from(text))).toEqual({ schema: SCHEMA, payload: { id: 3 } });
    expect(decodeJsonMessage(text)).toEqual({ schema: SCHEMA, payload: { id: 3 } });
  });

  it('returns schema null for schemaless JSON', () => {
    expect(decodeJsonMessage('{"id":1,"note":"x"}')).toEqual({ schema: null, payload: { id: 1, note: 'x' } });
    expect(decodeJsonMessage('{"payload":{"id":1}}')).toEqual({ schema: null, payload: { payload: { id: 1 } } });
    expect(decodeJsonMessage('[1,2]')).toEqual({ schema: null, payload: [1, 2] });
    expect(decodeJsonMessage('5')).toEqual({ schema: null, payload: 5 });
    expect(decodeJsonMessage('null')).toEqual({ schema: null, payload: null });
  });

  it('keeps an explicit null schema', () => {
    expect(decodeJsonMessage('{"schema":null,"payload":{"id":1}}')).toEqual({ schema: null, payload: { id: 1 } });
  });

  it('throws SyntaxError on invalid JSON', () => {
    expect(() => decodeJsonMessage('{not json')).toThrow(SyntaxError);
  });
});

describe('decodePayloadWithPrefix', () => {
  const schema: ConnectSchema = { type: 'struct', optional: false, name: 't.Envelope', fields: [] };
  const codec = new JsonEnvelopeCodec(schema);
  const prefix = schemaPrefix(JSON.stringify(schema));

  it('parses only the payload of a message that carries the known schema', () => {
    expect(decodePayloadWithPrefix(codec.encode({ op: 'c', id: 9_007_199_254_740_993n }), prefix)).toEqual({ op: 'c', id: 9_007_199_254_740_993n });
  });

  it('declines a message with another schema or layout', () => {
    const other = new JsonEnvelopeCodec({ ...schema, name: 'u.Envelope' });
    expect(decodePayloadWithPrefix(other.encode({ op: 'c' }), prefix)).toBeUndefined();
    expect(decodePayloadWithPrefix(Buffer.from(`${codec.encode({ op: 'c' }).toString()}\n`), prefix)).toBeUndefined();
    expect(decodePayloadWithPrefix(Buffer.from('{"payload":{},"schema":{}}'), prefix)).toBeUndefined();
  });
});
