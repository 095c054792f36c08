/**
 * Every connector kind tideline knows. Adding a kind: a folder with a spec.ts
 * (config schema with field descriptions, config type; it never imports the
 * connector class), a connector.ts declaring the kind with defineConnector,
 * and one line here. A kind whose events carry a source block of their own
 * declares it (sourceBlocks: `source.connector`, schema, row version); the
 * sinks get every declared one through rowVersions.
 */
import type { ConnectorKind } from '../core/connector.js';
import { RowVersions } from '../core/row-versions.js';
import { clickhouseSinkConnector } from '../sinks/clickhouse/connector.js';
import { postgresSourceConnector } from '../sources/postgres/connector.js';
import { transformConnector } from '../processors/transform/connector.js';
import { aggregateConnector } from '../processors/aggregate/connector.js';

const kinds: readonly ConnectorKind[] = [postgresSourceConnector, clickhouseSinkConnector, transformConnector, aggregateConnector];

export const connectorKinds: ReadonlyMap<string, ConnectorKind> = new Map(kinds.map((kind) => [kind.kind, kind]));

/** Row versions of every source block a kind declares, by `source.connector` (each connector's context gets it). */
export const rowVersions = new RowVersions(kinds.flatMap((kind) => kind.sourceBlocks ?? []));
