/**
 * A processor's stages as a replay sees them: per ProcessorLoop its consumer
 * group, its transactional-id prefix and its input topics (the names the
 * kinds' run() gives them; aggregate-processor.ts and transform-processor.ts).
 */
import type { AggregateConfig } from '../aggregate/spec.js';
import type { TransformConfig } from '../transform/spec.js';

export interface ProcessorStage {
  groupId: string;
  transactionalIdPrefix: string;
  topics: readonly string[];
}

export function transformStages(name: string, config: TransformConfig): ProcessorStage[] {
  return [{ groupId: config.groupId ?? `tideline-${name}`, transactionalIdPrefix: `tideline-${name}`, topics: config.topics }];
}

/** The input stage first: repartition (on the input topics), then aggregation (on <name>.repartition). */
export function aggregateStages(name: string, config: AggregateConfig): ProcessorStage[] {
  const groupId = config.groupId ?? `tideline-${name}`;
  if (!config.repartition) return [{ groupId, transactionalIdPrefix: `tideline-${name}`, topics: config.topics }];
  return [
    { groupId: `${groupId}.repartition`, transactionalIdPrefix: `tideline-${name}.repartition`, topics: config.topics },
    { groupId, transactionalIdPrefix: `tideline-${name}`, topics: [`${name}.repartition`] },
  ];
}
