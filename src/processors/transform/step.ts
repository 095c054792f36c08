import type { RecordSchemas, TransformRecord, ValueShape } from './record.js';

/**
 * One step of a transform chain. `schemas` says what a step makes of the
 * record's schemas (called once per distinct input schema, then cached);
 * `apply` changes the record in place, or returns null to drop it.
 */
export interface TransformStep {
  readonly type: string;
  schemas(input: RecordSchemas): RecordSchemas;
  /** `shape` is the value's shape before this step. */
  apply(record: TransformRecord, shape: ValueShape): Promise<TransformRecord | null> | TransformRecord | null;
}

/** A record a step cannot transform (a value that cannot be cast, a bad route): it goes to the dead-letter topic. */
export class TransformError extends Error {}
