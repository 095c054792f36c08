/**
 * Every connector kind tideline knows. Adding a kind: a folder exporting a spec
 * (config schema with field descriptions, factory), and one line here.
 */
import type { ConnectorSpec } from '../core/connector.js';
import { clickhouseSinkSpec } from '../sinks/clickhouse/spec.js';
import { postgresSourceSpec } from '../sources/postgres/spec.js';
import { transformSpec } from '../processors/transform/spec.js';
import { aggregateSpec } from '../processors/aggregate/spec.js';

const specs: ConnectorSpec[] = [postgresSourceSpec as unknown as ConnectorSpec, clickhouseSinkSpec as unknown as ConnectorSpec];
specs.push(transformSpec as unknown as ConnectorSpec);
specs.push(aggregateSpec as unknown as ConnectorSpec);

export const connectorKinds: ReadonlyMap<string, ConnectorSpec> = new Map(specs.map((spec) => [spec.kind, spec]));
