/**
 * Connect schemas ⇄ Avro schemas, as Confluent's AvroData (the AvroConverter
 * Debezium deployments run) maps them, so a Debezium consumer's Avro
 * deserializer reads tideline's topics with no mapping:
 *
 *  - A struct is a record named by its Connect name, split at the last dot into
 *    namespace and name (`<prefix>.<schema>.<table>.Value` → namespace
 *    `<prefix>.<schema>.<table>`, name `Value`); an unnamed struct is
 *    `io.confluent.connect.avro.ConnectDefault` (numbered when there are
 *    several, as AvroData's newer versions do).
 *  - int8/int16 are Avro ints with `connect.type`; int32 int, int64 long,
 *    float float, double double, boolean, string, bytes, array.
 *  - Metadata goes on the non-null type, in AvroData's order: `connect.doc`,
 *    `connect.version` (a number), `connect.parameters` (a string map),
 *    `connect.name`, `connect.type`. Connect's Decimal also gets Avro's
 *    `decimal` logical type with `scale` and `precision` (64 without
 *    `connect.decimal.precision`, AvroData's default).
 *  - An optional schema is the union ["null", type]; an optional field has
 *    `"default": null`.
 *  - A named record used twice (`before` and `after` of an Envelope) is
 *    defined once and referenced by its full name the second time.
 *
 * Avro names allow only [A-Za-z0-9_] (not first a digit): other characters
 * become `_`, as Debezium's `schema.name.adjustment.mode=avro` and
 * `field.name.adjustment.mode=avro` do. `connect.name` keeps the Connect name.
 */
import { DECIMAL_PRECISION_PARAMETER, SemanticType, type ConnectSchema, type ConnectType } from '../../core/connect-schema.js';

export type AvroSchema = string | AvroSchema[] | { [key: string]: unknown };

const CONNECT_NAME = 'connect.name';
const CONNECT_VERSION = 'connect.version';
const CONNECT_PARAMETERS = 'connect.parameters';
const CONNECT_DOC = 'connect.doc';
const CONNECT_TYPE = 'connect.type';
const DEFAULT_NAMESPACE = 'io.confluent.connect.avro';
const DEFAULT_NAME = 'ConnectDefault';
const DECIMAL_NAME = SemanticType.Decimal;
const DECIMAL_PRECISION = DECIMAL_PRECISION_PARAMETER;
const DEFAULT_DECIMAL_PRECISION = 64;

const PRIMITIVES: Partial<Record<ConnectType, string>> = {
  int8: 'int',
  int16: 'int',
  int32: 'int',
  int64: 'long',
  float: 'float',
  double: 'double',
  boolean: 'boolean',
  string: 'string',
  bytes: 'bytes',
};

/** An Avro name part: invalid characters become `_` (Debezium's avro name adjustment). */
export function avroName(part: string): string {
  const adjusted = part.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(adjusted) ? `_${adjusted}` : adjusted || '_';
}

function splitName(fullName: string): { namespace: string | undefined; name: string } {
  const dot = fullName.lastIndexOf('.');
  if (dot < 0) return { namespace: undefined, name: avroName(fullName) };
  return { namespace: fullName.slice(0, dot).split('.').map(avroName).join('.'), name: avroName(fullName.slice(dot + 1)) };
}

/** The Avro schema of a Connect schema (AvroData.fromConnectSchema with connect.meta.data on). */
export function toAvroSchema(schema: ConnectSchema): AvroSchema {
  return new FromConnect().convert(schema, false);
}

class FromConnect {
  /** Records already defined (by full Avro name): later uses are references. */
  private readonly defined = new Set<string>();
  private unnamed = 0;

  convert(schema: ConnectSchema, ignoreOptional: boolean): AvroSchema {
    const base = this.base(schema);
    return schema.optional && !ignoreOptional ? ['null', base] : base;
  }

  private base(schema: ConnectSchema): AvroSchema {
    if (schema.type === 'struct') return this.record(schema);
    let base: Record<string, unknown>;
    if (schema.type === 'array') {
      if (!schema.items) throw new Error(`array schema ${schema.name ?? schema.field ?? ''} has no items schema`);
      base = { type: 'array', items: this.convert(schema.items, false) };
    } else {
      const primitive = PRIMITIVES[schema.type];
      if (!primitive) throw new Error(`Connect type ${String(schema.type)} has no Avro mapping`);
      base = { type: primitive };
      if (schema.type === 'bytes' && schema.name === DECIMAL_NAME) {
        base['scale'] = Number(schema.parameters?.['scale'] ?? 0);
        base['precision'] = Number(schema.parameters?.[DECIMAL_PRECISION] ?? DEFAULT_DECIMAL_PRECISION);
      }
    }
    this.addMetadata(base, schema);
    if (schema.type === 'bytes' && schema.name === DECIMAL_NAME) base['logicalType'] = 'decimal';
    // A primitive without properties is written as its bare name, as Avro prints it.
    const keys = Object.keys(base);
    return keys.length === 1 && keys[0] === 'type' && typeof base['type'] === 'string' ? base['type'] : base;
  }

  private record(schema: ConnectSchema): AvroSchema {
    let namespace: string | undefined;
    let name: string;
    if (schema.name) {
      ({ namespace, name } = splitName(schema.name));
    } else {
      namespace = DEFAULT_NAMESPACE;
      name = this.unnamed++ === 0 ? DEFAULT_NAME : `${DEFAULT_NAME}${this.unnamed - 1}`;
    }
    const fullName = namespace ? `${namespace}.${name}` : name;
    if (this.defined.has(fullName)) return fullName;
    this.defined.add(fullName);
    const fields = (schema.fields ?? []).map((field) => {
      const avroField: Record<string, unknown> = { name: avroName(field.field ?? ''), type: this.convert(field, false) };
      if (field.optional) avroField['default'] = null;
      return avroField;
    });
    const record: Record<string, unknown> = namespace ? { type: 'record', name, namespace, fields } : { type: 'record', name, fields };
    this.addMetadata(record, schema);
    return record;
  }

  private addMetadata(target: Record<string, unknown>, schema: ConnectSchema): void {
    const withDoc = schema as ConnectSchema & { doc?: string };
    if (withDoc.doc !== undefined) target[CONNECT_DOC] = withDoc.doc;
    if (schema.version !== undefined) target[CONNECT_VERSION] = schema.version;
    if (schema.parameters !== undefined) target[CONNECT_PARAMETERS] = { ...schema.parameters };
    if (schema.name !== undefined) target[CONNECT_NAME] = schema.name;
    if (schema.type === 'int8' || schema.type === 'int16') target[CONNECT_TYPE] = schema.type;
  }
}

type AvroObject = Record<string, unknown>;

/**
 * The Connect schema of an Avro schema (AvroData.toConnectSchema): what a sink
 * or processor reads column types from, for our own schemas the one they were
 * written from, and for schemas of other writers (Debezium, a Python
 * producer) the Connect schema AvroData would give.
 */
export function toConnectSchema(schema: AvroSchema): ConnectSchema {
  return new ToConnect().convert(schema, undefined);
}

class ToConnect {
  /** Records by full name, for references. */
  private readonly records = new Map<string, AvroObject>();

  convert(schema: AvroSchema, namespace: string | undefined): ConnectSchema {
    if (Array.isArray(schema)) {
      const branches = schema.filter((branch) => branch !== 'null' && !(typeof branch === 'object' && !Array.isArray(branch) && branch['type'] === 'null'));
      if (branches.length !== 1) throw new Error(`Avro union ${JSON.stringify(schema)} has no Connect mapping (only ["null", type] does)`);
      return { ...this.convert(branches[0]!, namespace), optional: true };
    }
    if (typeof schema === 'string') {
      const primitive = this.primitive(schema);
      if (primitive) return { type: primitive, optional: false };
      const record = this.records.get(schema) ?? this.records.get(namespace ? `${namespace}.${schema}` : schema);
      if (!record) throw new Error(`Avro schema references unknown type ${schema}`);
      return this.struct(record, namespace, true);
    }
    const type = schema['type'];
    if (typeof type !== 'string' && typeof type === 'object' && type !== null) return this.convert(type as AvroSchema, namespace);
    let result: ConnectSchema;
    switch (type) {
      case 'record':
        return this.struct(schema, namespace, false);
      case 'array':
        result = { type: 'array', optional: false, items: this.convert(schema['items'] as AvroSchema, namespace) };
        break;
      case 'enum':
        // Avro enums (from other writers) read as strings, as without enhanced.avro.schema.support.
        result = { type: 'string', optional: false };
        break;
      case 'fixed':
        result = { type: 'bytes', optional: false };
        break;
      default: {
        const primitive = this.primitive(String(type));
        if (!primitive) throw new Error(`Avro type ${JSON.stringify(type)} has no Connect mapping`);
        result = { type: primitive, optional: false };
      }
    }
    return this.withMetadata(result, schema);
  }

  private primitive(name: string): ConnectType | undefined {
    switch (name) {
      case 'int':
        return 'int32';
      case 'long':
        return 'int64';
      case 'float':
        return 'float';
      case 'double':
        return 'double';
      case 'boolean':
        return 'boolean';
      case 'string':
        return 'string';
      case 'bytes':
        return 'bytes';
      default:
        return undefined;
    }
  }

  private struct(record: AvroObject, outer: string | undefined, reference: boolean): ConnectSchema {
    const rawName = String(record['name']);
    const namespace = rawName.includes('.') ? rawName.slice(0, rawName.lastIndexOf('.')) : ((record['namespace'] as string | undefined) ?? outer);
    const shortName = rawName.includes('.') ? rawName.slice(rawName.lastIndexOf('.') + 1) : rawName;
    const fullName = namespace ? `${namespace}.${shortName}` : shortName;
    if (!reference) this.records.set(fullName, record);
    const fields = (record['fields'] as AvroObject[]).map((field) => ({ ...this.convert(field['type'] as AvroSchema, namespace), field: String(field['name']) }));
    const struct: ConnectSchema = { type: 'struct', optional: false, fields };
    // AvroData names a struct by its record name, unless it is the placeholder for an unnamed one.
    if (namespace !== DEFAULT_NAMESPACE || !shortName.startsWith(DEFAULT_NAME)) struct.name = fullName;
    return this.withMetadata(struct, record);
  }

  private withMetadata(result: ConnectSchema, schema: AvroObject): ConnectSchema {
    const connectType = schema[CONNECT_TYPE];
    if (connectType === 'int8' || connectType === 'int16') result.type = connectType;
    const name = schema[CONNECT_NAME];
    const version = schema[CONNECT_VERSION];
    const parameters = schema[CONNECT_PARAMETERS];
    const doc = schema[CONNECT_DOC];
    // Rebuilt in the order the Connect schemas tideline writes have their keys.
    const ordered: ConnectSchema = { type: result.type, optional: result.optional };
    if (result.fields) ordered.fields = result.fields;
    if (result.items) ordered.items = result.items;
    if (typeof name === 'string') ordered.name = name;
    else if (result.name) ordered.name = result.name;
    else if (schema['logicalType'] === 'decimal' && result.type === 'bytes') ordered.name = DECIMAL_NAME;
    if (typeof version === 'number') ordered.version = version;
    if (parameters && typeof parameters === 'object') ordered.parameters = { ...(parameters as Record<string, string>) };
    else if (ordered.name === DECIMAL_NAME) ordered.parameters = { scale: String(schema['scale'] ?? 0), [DECIMAL_PRECISION]: String(schema['precision'] ?? DEFAULT_DECIMAL_PRECISION) };
    if (typeof doc === 'string') (ordered as ConnectSchema & { doc?: string }).doc = doc;
    return ordered;
  }
}
