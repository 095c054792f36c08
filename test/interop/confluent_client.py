"""Confluent's Python client against tideline: a client nobody here wrote.

Run by test/integration/python-interop.test.ts with the venv stack/bootstrap
builds (stack/lib/python.sh). Two commands; each prints one JSON summary on
stdout and exits 1 (reasons on stderr) when it finds a difference.

compare: reads an Avro topic with confluent-kafka's AvroDeserializer, whose
  SchemaRegistryClient fetches each writer schema from the registry by the id
  in the message, and a JSON topic written from the same rows by a second
  source (format json) with json.loads; pairs their messages by key, in order,
  and compares keys and values field by field.

produce: writes Debezium-shaped Avro events (the schemas written by hand
  below, after Debezium's PostgreSQL connector) with AvroSerializer, which
  registers them under <topic>-key and <topic>-value (TopicNameStrategy).
"""

import argparse
import base64
import json
import struct
import sys
import time
from decimal import MAX_PREC, Context, Decimal

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

DECIMAL = "org.apache.kafka.connect.data.Decimal"


def fail(message):
    print(f"confluent_client: {message}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- compare


def read_topics(brokers, topics, expected, timeout_s):
    """Every message of each topic (read_committed, from the start) until each holds `expected`."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"confluent-interop-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe(topics)
    messages = {topic: [] for topic in topics}
    deadline = time.monotonic() + timeout_s
    try:
        while any(len(found) < expected for found in messages.values()):
            if time.monotonic() > deadline:
                counts = {topic: len(found) for topic, found in messages.items()}
                fail(f"timed out after {timeout_s} s waiting for {expected} messages per topic: {counts}")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                fail(f"consumer error: {message.error()}")
            messages[message.topic()].append(message)
    finally:
        consumer.close()
    return messages


def from_json(schema, value):
    """
    A JSON-format value as Confluent's Avro deserializer gives the same Connect
    value, guided by the JsonConverter schema beside it. The only differences,
    normalized here and nowhere else:
      - bytes: JSON carries base64 text, Avro bytes;
      - Connect Decimal: JSON carries the unscaled two's complement as base64,
        Avro's decimal logical type decodes to a Decimal with the schema's scale;
      - float (float4): JSON carries the float's shortest decimal text, Avro a
        32-bit float, which Python widens to a double.
    """
    if value is None or schema is None:
        return value
    kind = schema.get("type")
    if kind == "struct":
        fields = {field["field"]: field for field in schema["fields"]}
        return {name: from_json(fields.get(name), item) for name, item in value.items()}
    if kind == "array":
        return [from_json(schema.get("items"), item) for item in value]
    if kind == "bytes":
        raw = base64.b64decode(value)
        if schema.get("name") == DECIMAL:
            scale = int(schema["parameters"]["scale"])
            # Exact: the default context would round to 28 digits.
            return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale, Context(prec=MAX_PREC))
        return raw
    if kind == "float":
        return struct.unpack("<f", struct.pack("<f", value))[0]
    return value


def differences(path, expected, actual, found):
    if isinstance(expected, dict) and isinstance(actual, dict):
        for name in sorted(set(expected) | set(actual)):
            if name not in actual:
                found.append(f"{path}.{name}: missing from the Avro value (JSON has {expected[name]!r})")
            elif name not in expected:
                found.append(f"{path}.{name}: only in the Avro value ({actual[name]!r})")
            else:
                differences(f"{path}.{name}", expected[name], actual[name], found)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (left, right) in enumerate(zip(expected, actual)):
            differences(f"{path}[{index}]", left, right, found)
    elif type(expected) is not type(actual) or expected != actual:
        found.append(f"{path}: JSON {expected!r} ({type(expected).__name__}), Avro {actual!r} ({type(actual).__name__})")


def comparable(value):
    """A value without what differs by connector rather than by row: the envelope's
    processing time and source.name (each connector's topic prefix)."""
    if value is None:
        return None
    value = {name: item for name, item in value.items() if name not in ("ts_ms", "ts_us", "ts_ns")}
    value["source"] = {name: item for name, item in value["source"].items() if name != "name"}
    return value


def json_part(raw):
    """(schema, payload) of a JsonConverter message; (None, None) for a tombstone."""
    if raw is None:
        return None, None
    document = json.loads(raw)
    return document["schema"], document["payload"]


def schema_id(raw):
    if raw is None:
        return None
    if raw[0] != 0:
        fail(f"not Confluent's wire format (magic byte {raw[0]})")
    return struct.unpack(">I", raw[1:5])[0]


def compare(args):
    registry = SchemaRegistryClient({"url": args.registry})
    key_reader = AvroDeserializer(registry)
    value_reader = AvroDeserializer(registry)
    messages = read_topics(args.brokers, [args.avro_topic, args.json_topic], args.expect, args.timeout)

    # Messages of one key keep their order in both topics; keys may be spread
    # over partitions differently (different key bytes), so pair by key.
    by_key = {}
    for message in messages[args.json_topic]:
        key_schema, key = json_part(message.key())
        value_schema, value = json_part(message.value())
        by_key.setdefault(json.dumps(key, sort_keys=True, default=str), []).append(
            (from_json(key_schema, key), None if value is None else from_json(value_schema, value)))

    problems = []
    ops = {}
    tombstones = 0
    value_ids = []
    columns = set()
    for message in messages[args.avro_topic]:
        key = key_reader(message.key(), SerializationContext(message.topic(), MessageField.KEY))
        value = value_reader(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
        value_id = schema_id(message.value())
        if value_id is not None and value_id not in value_ids:
            value_ids.append(value_id)
        pending = by_key.get(json.dumps(key, sort_keys=True, default=str))
        where = f"{args.avro_topic} partition {message.partition()} offset {message.offset()}"
        if not pending:
            problems.append(f"{where}: key {key!r} has no (further) message in {args.json_topic}")
            continue
        json_key, json_value = pending.pop(0)
        found = []
        differences("key", json_key, key, found)
        differences("value", comparable(json_value), comparable(value), found)
        problems.extend(f"{where}: {problem}" for problem in found)
        if value is None:
            tombstones += 1
        else:
            ops[value["op"]] = ops.get(value["op"], 0) + 1
            columns.update(value["after"] or value["before"] or {})
    left = sum(len(pending) for pending in by_key.values())
    if left:
        problems.append(f"{left} messages of {args.json_topic} have no counterpart in {args.avro_topic}")

    subject = f"{args.avro_topic}-value"
    envelope = json.loads(registry.get_latest_version(subject).schema.schema_str)
    source = next(field["type"] for field in envelope["fields"] if field["name"] == "source")
    summary = {
        "compared": len(messages[args.avro_topic]),
        "ops": ops,
        "tombstones": tombstones,
        "columns": sorted(columns),
        "valueSchemaIds": value_ids,
        "versions": {s: registry.get_versions(s) for s in (f"{args.avro_topic}-key", subject)},
        "records": [f"{record['namespace']}.{record['name']}" for record in (envelope, source)],
        "problems": problems,
    }
    print(json.dumps(summary))
    if problems:
        fail("\n".join(problems[:40]))


# ---------------------------------------------------------------- produce


def connect_name(avro, name, version=None, parameters=None):
    """Connect's metadata on an Avro type, as Confluent's AvroData writes it."""
    if version is not None:
        avro["connect.version"] = version
    if parameters is not None:
        avro["connect.parameters"] = parameters
    avro["connect.name"] = name
    return avro


def optional(field, avro):
    return {"name": field, "type": ["null", avro], "default": None}


def debezium_schemas(prefix, table):
    """Key and Envelope schemas of <prefix>.public.<table>, in Debezium's shape."""
    namespace = f"{prefix}.public.{table}"
    key = connect_name({"type": "record", "name": "Key", "namespace": namespace, "fields": [
        {"name": "id", "type": "int"},
    ]}, f"{namespace}.Key")
    row = connect_name({"type": "record", "name": "Value", "namespace": namespace, "fields": [
        {"name": "id", "type": "int"},
        {"name": "name", "type": "string"},
        optional("qty", "long"),
        optional("price", "double"),
        optional("active", "boolean"),
        optional("amount", connect_name(
            {"type": "bytes", "scale": 2, "precision": 10, "logicalType": "decimal"},
            DECIMAL, 1, {"scale": "2", "connect.decimal.precision": "10"})),
        optional("created", connect_name({"type": "long"}, "io.debezium.time.MicroTimestamp", 1)),
        optional("day", connect_name({"type": "int"}, "io.debezium.time.Date", 1)),
        optional("status", connect_name({"type": "string"}, "io.debezium.data.Enum", 1, {"allowed": "new,paid"})),
    ]}, f"{namespace}.Value")
    source = connect_name({"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": ["string", "null"], "default": "false"},
        {"name": "db", "type": "string"},
        optional("sequence", "string"),
        {"name": "schema", "type": "string"},
        {"name": "table", "type": "string"},
        optional("txId", "long"),
        optional("lsn", "long"),
        optional("xmin", "long"),
    ]}, "io.debezium.connector.postgresql.Source")
    source["fields"][4]["type"][0] = connect_name({"type": "string"}, "io.debezium.data.Enum", 1, {"allowed": "true,last,false,incremental"})
    block = connect_name({"type": "record", "name": "block", "namespace": "event", "fields": [
        {"name": "id", "type": "string"},
        {"name": "total_order", "type": "long"},
        {"name": "data_collection_order", "type": "long"},
    ]}, "event.block", 1)
    envelope = connect_name({"type": "record", "name": "Envelope", "namespace": namespace, "fields": [
        optional("before", row),
        optional("after", f"{namespace}.Value"),
        {"name": "source", "type": source},
        {"name": "op", "type": "string"},
        optional("ts_ms", "long"),
        optional("transaction", block),
    ]}, f"{namespace}.Envelope", 1)
    return key, envelope


# id 1 and 2 created, 2 updated, 3 created then deleted (with its tombstone).
ROWS = {
    1: {"id": 1, "name": "first", "qty": 9007199254740993, "price": 2.5, "active": True,
        "amount": Decimal("12345678.90"), "created": 1709210096789012, "day": 19782, "status": "new"},
    2: {"id": 2, "name": "second", "qty": None, "price": None, "active": None,
        "amount": None, "created": None, "day": None, "status": None},
    3: {"id": 3, "name": "third", "qty": 3, "price": -0.125, "active": False,
        "amount": Decimal("-0.01"), "created": 0, "day": 0, "status": "paid"},
}
UPDATED_2 = {**ROWS[2], "name": "second, updated", "qty": -42, "amount": Decimal("0.50"), "status": "paid"}


def produce(args):
    registry = SchemaRegistryClient({"url": args.registry})
    key_schema, value_schema = debezium_schemas(args.prefix, args.table)
    key_writer = AvroSerializer(registry, json.dumps(key_schema))
    value_writer = AvroSerializer(registry, json.dumps(value_schema))
    lsn = 1000
    commit_ms = 1709210096000

    def envelope(op, before, after):
        nonlocal lsn
        lsn += 8
        return {"before": before, "after": after, "op": op, "ts_ms": commit_ms + 1, "transaction": None,
                "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": args.prefix,
                           "ts_ms": commit_ms, "snapshot": "false", "db": "shop", "sequence": None,
                           "schema": "public", "table": args.table, "txId": 700, "lsn": lsn, "xmin": None}}

    events = [
        (1, envelope("c", None, ROWS[1])),
        (2, envelope("c", None, ROWS[2])),
        (3, envelope("c", None, ROWS[3])),
        (2, envelope("u", ROWS[2], UPDATED_2)),
        (3, envelope("d", ROWS[3], None)),
        (3, None),
    ]
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    errors = []
    for key, value in events:
        producer.produce(
            args.topic,
            key=key_writer({"id": key}, SerializationContext(args.topic, MessageField.KEY)),
            value=None if value is None else value_writer(value, SerializationContext(args.topic, MessageField.VALUE)),
            on_delivery=lambda error, _message: error and errors.append(str(error)),
        )
    left = producer.flush(args.timeout)
    if left or errors:
        fail(f"{left} messages not delivered to {args.topic}: {errors}")
    print(json.dumps({"produced": len(events), "versions": {
        subject: registry.get_versions(subject) for subject in (f"{args.topic}-key", f"{args.topic}-value")}}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--registry", required=True, help="schema registry URL")
    parser.add_argument("--timeout", type=float, default=30)
    commands = parser.add_subparsers(dest="command", required=True)
    compare_parser = commands.add_parser("compare")
    compare_parser.add_argument("--avro-topic", required=True)
    compare_parser.add_argument("--json-topic", required=True)
    compare_parser.add_argument("--expect", type=int, required=True, help="messages in each topic")
    produce_parser = commands.add_parser("produce")
    produce_parser.add_argument("--topic", required=True)
    produce_parser.add_argument("--prefix", required=True)
    produce_parser.add_argument("--table", required=True)
    args = parser.parse_args()
    compare(args) if args.command == "compare" else produce(args)


if __name__ == "__main__":
    main()
