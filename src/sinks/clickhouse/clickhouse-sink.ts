/**
 * The ClickHouse sink: change topics into ReplacingMergeTree tables, exactly
 * once. The sink runtime (src/sinks/runtime/) does the consumer group,
 * batching, backpressure, rebalances, retries, dead letters and the offsets
 * protocol; ClickHouseWriter (clickhouse-writer.ts) writes the batches and
 * keeps the offsets in ClickHouse next to the rows.
 */
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { runKafkaSink } from '../runtime/kafka-sink.js';
import { ClickHouseWriter } from './clickhouse-writer.js';
import type { ClickHouseSinkConfig } from './spec.js';

export class ClickHouseSink implements Connector {
  constructor(private readonly context: ConnectorContext<ClickHouseSinkConfig>) {}

  async run(signal: AbortSignal): Promise<void> {
    const { config, name, logger } = this.context;
    await runKafkaSink(this.context, config, new ClickHouseWriter(config, name, logger, this.context.converter, this.context.rowVersions), signal);
  }
}
