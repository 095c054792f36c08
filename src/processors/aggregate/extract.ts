/**
 * What an aggregation needs from one input event: its group, its event time
 * and the value of each aggregate's expression. The repartition stage
 * extracts this once and sends it on in a compact form (changes.ts), so the
 * aggregation stage never parses the Debezium envelope again.
 */
import type { Row } from '../../core/events.js';
import { Expression, isTruthy } from '../expression.js';
import { castValue, type CastType } from '../transform/cast.js';
import type { AggregateConfig } from './spec.js';

export interface AggregateInput {
  group: unknown[];
  /** Event time, ms since the epoch. */
  ts: number;
  /** One value per aggregate, in config order (undefined: no expression). */
  values: unknown[];
}

export class EventInputError extends Error {}

export interface GroupColumn {
  name: string;
  expression: Expression;
  type: CastType;
}

export function groupColumns(config: AggregateConfig): GroupColumn[] {
  return Object.entries(config.groupBy).map(([name, field]) =>
    typeof field === 'string'
      ? { name, expression: Expression.compile(field), type: 'string' }
      : { name, expression: Expression.compile(field.expression), type: field.type },
  );
}

export class EventExtractor {
  private readonly group: GroupColumn[];
  private readonly timestamp: Expression;
  private readonly filter: Expression | null;
  private readonly values: (Expression | null)[];

  constructor(config: AggregateConfig) {
    this.group = groupColumns(config);
    this.timestamp = Expression.compile(config.timestamp);
    this.filter = config.filter ? Expression.compile(config.filter) : null;
    this.values = Object.values(config.aggregates).map((aggregate) => (aggregate.expression ? Expression.compile(aggregate.expression) : null));
  }

  /** null when the filter drops the event. */
  async extract(envelope: Row, bindings: Record<string, unknown>): Promise<AggregateInput | null> {
    if (this.filter && !isTruthy(await this.filter.evaluate(envelope, bindings))) return null;
    const ts = await this.timestamp.evaluate(envelope, bindings);
    if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new EventInputError(`timestamp expression gave ${JSON.stringify(ts)}, not ms since the epoch`);
    const group: unknown[] = [];
    for (const column of this.group) {
      const value = castValue(await column.expression.evaluate(envelope, bindings), column.type, column.name);
      if (value === null) throw new EventInputError(`group column ${column.name} is null`);
      group.push(value);
    }
    const values: unknown[] = [];
    for (const expression of this.values) values.push(expression ? await expression.evaluate(envelope, bindings) : undefined);
    return { group, ts: Math.floor(ts), values };
  }
}
