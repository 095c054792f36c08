/** A step of the chain from its config. */
import { castStep } from './cast.js';
import { computeStep } from './compute.js';
import { dropStep, keepStep, renameStep } from './fields.js';
import { filterStep } from './filter.js';
import { hashStep, maskStep } from './mask.js';
import { routeStep } from './route.js';
import type { TransformStepConfig } from './spec.js';
import type { TransformStep } from './step.js';
import { unwrapStep } from './unwrap.js';

export function createStep(config: TransformStepConfig): TransformStep {
  switch (config.type) {
    case 'filter':
      return filterStep(config);
    case 'keep':
      return keepStep(config);
    case 'drop':
      return dropStep(config);
    case 'rename':
      return renameStep(config);
    case 'mask':
      return maskStep(config);
    case 'hash':
      return hashStep(config);
    case 'cast':
      return castStep(config);
    case 'compute':
      return computeStep(config);
    case 'route':
      return routeStep(config);
    case 'unwrap':
      return unwrapStep(config);
  }
}
