/**
 * A chain of transform steps, in config order. The schema side is worked out
 * once per distinct input schema (a plan: the value's shape before each step
 * and the output schemas); the record side runs per record.
 */
import type { RecordSchemas, TransformRecord, ValueShape } from './record.js';
import type { TransformStep } from './step.js';

export interface ChainPlan {
  /** The value's shape before each step. */
  shapes: ValueShape[];
  output: RecordSchemas;
}

export interface ChainResult {
  /** The record after the last step, or null when a step dropped it. */
  record: TransformRecord | null;
  /** The type of the step that dropped it. */
  droppedBy?: string;
}

export class TransformChain {
  constructor(readonly steps: readonly TransformStep[]) {}

  plan(input: RecordSchemas): ChainPlan {
    const shapes: ValueShape[] = [];
    let schemas = input;
    for (const step of this.steps) {
      shapes.push(schemas.shape);
      schemas = step.schemas(schemas);
    }
    return { shapes, output: schemas };
  }

  async apply(record: TransformRecord, plan: ChainPlan): Promise<ChainResult> {
    let current: TransformRecord | null = record;
    for (let index = 0; index < this.steps.length; index++) {
      const step = this.steps[index]!;
      const result = step.apply(current, plan.shapes[index]!);
      current = result instanceof Promise ? await result : result;
      if (current === null) return { record: null, droppedBy: step.type };
    }
    return { record: current };
  }
}
