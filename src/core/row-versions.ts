/**
 * The row version of an event: the number a sink orders a row's changes by
 * (ClickHouse's `_version`), so that rewriting a batch after a crash
 * collapses and an older change never wins over a newer one.
 *
 * Only the kind that writes a source block knows which of its fields orders
 * its events (PostgreSQL: the LSN). Each kind declares that in its spec
 * (ConnectorSpec.sourceBlocks, one SourceBlockSpec per `source.connector`
 * value it writes); the registry collects them into one RowVersions, which
 * every connector gets in its context. A sink looks the version up by the
 * event's `source.connector` and never reads a source field by name.
 */
import type { ConnectSchema } from './connect-schema.js';
import type { SourceBlock } from './events.js';

/** A source block a kind writes: its `source.connector` value, Connect schema and row version. */
export interface SourceBlockSpec<Source extends SourceBlock = SourceBlock> {
  /** The `source.connector` value of its events (Debezium's: postgresql, mysql, ...). */
  connector: string;
  /** The Connect schema of the whole block (core/events.ts sourceBlockSchema). */
  schema: ConnectSchema;
  /**
   * The fields of the block the row version comes from (e.g. `['lsn']`):
   * error messages name them, and a sink that reads only some fields of a
   * block (a projection) reads these.
   */
  rowVersionFields: readonly string[];
  /**
   * The row version of one event's block: a non-negative integer that grows
   * with the order of the source's changes (below 2^53). Null when the block
   * lacks it. The block comes from decoded bytes: check the field's type.
   */
  rowVersion(source: Source): number | null;
}

/** Why an event has no row version; a sink writes the event as a dead letter with this message. */
export class RowVersionError extends Error {}

export class RowVersions {
  private readonly byConnector = new Map<string, SourceBlockSpec>();

  constructor(specs: Iterable<SourceBlockSpec>) {
    for (const spec of specs) {
      const known = this.byConnector.get(spec.connector);
      if (known && known !== spec) throw new Error(`two source block specs for connector "${spec.connector}"`);
      this.byConnector.set(spec.connector, spec);
    }
  }

  /** The source block fields every row version needs: `connector` and each kind's rowVersionFields. */
  get sourceFields(): string[] {
    return [...new Set(['connector', ...[...this.byConnector.values()].flatMap((spec) => spec.rowVersionFields)])];
  }

  /** The `source.connector` values known. */
  get connectors(): string[] {
    return [...this.byConnector.keys()];
  }

  /** The row version of an event's source block; throws RowVersionError naming the connector when there is none. */
  of(source: SourceBlock): number {
    const connector: unknown = source.connector;
    const spec = typeof connector === 'string' ? this.byConnector.get(connector) : undefined;
    if (!spec) {
      const known = this.connectors.map((name) => `"${name}"`).join(', ');
      throw new RowVersionError(`no row version known for events of connector ${JSON.stringify(connector ?? null)} (source.connector); known: ${known || 'none'}`);
    }
    const version = spec.rowVersion(source);
    if (version === null || version === undefined) throw new RowVersionError(`event without ${fieldNames(spec)} (needed as the row version)`);
    if (!Number.isSafeInteger(version) || version < 0) throw new RowVersionError(`${fieldNames(spec)} ${String(version)} is not a row version (a non-negative integer)`);
    return version;
  }
}

/** The row version's fields as messages name them: `source.lsn`. */
function fieldNames(spec: SourceBlockSpec): string {
  return spec.rowVersionFields.map((field) => `source.${field}`).join(', ');
}
