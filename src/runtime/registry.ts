/**
 * Every connector kind tideline knows. Adding a kind: a folder with a spec.ts
 * (config schema with field descriptions, config type; it never imports the
 * connector class), a connector.ts declaring the kind with defineConnector,
 * and one line here.
 */
import type { ConnectorKind } from '../core/connector.js';
import { clickhouseSinkConnector } from '../sinks/clickhouse/connector.js';
import { postgresSourceConnector } from '../sources/postgres/connector.js';
import { transformConnector } from '../processors/transform/connector.js';
import { aggregateConnector } from '../processors/aggregate/connector.js';

const kinds: readonly ConnectorKind[] = [postgresSourceConnector, clickhouseSinkConnector, transformConnector, aggregateConnector];

export const connectorKinds: ReadonlyMap<string, ConnectorKind> = new Map(kinds.map((kind) => [kind.kind, kind]));
