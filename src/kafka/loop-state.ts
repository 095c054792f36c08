/**
 * The states of the consume-transform-produce loop (processor-loop.ts), as a
 * guarded state machine after kafkajs's eosManager: every transition is
 * checked against the table below, and so is every operation against the
 * states it is legal in. An illegal one throws: it is a bug in the loop, not
 * a condition to recover from.
 *
 *   idle ─▶ starting ─▶ assigned ─▶ taking-over ─▶ processing
 *                          ▲  ▲          │              │
 *                          │  └──────────┘              │
 *                          └────────────────────────────┘
 *   (any running state) ─▶ stopping ─▶ stopped      (any running state) ─▶ failed
 *
 * - starting: output and input topics are checked, the consumer joins its group.
 * - assigned: the group gave this instance partitions (a join), or a batch
 *   found that another instance took one (fenced) or that the group is
 *   rebalancing. No batch is processed until a takeover completes.
 * - taking-over: batches in flight finish, then every owned partition's
 *   transactional id is initialized, committed offsets read, state restored.
 * - processing: batches run, several partitions at once.
 * - A join or a fenced/rebalance error during a takeover moves back to
 *   assigned; the takeover then ends without entering processing, and the
 *   next batch starts another one with the newest assignment.
 */
export type LoopState = 'idle' | 'starting' | 'assigned' | 'taking-over' | 'processing' | 'stopping' | 'stopped' | 'failed';

export const LOOP_TRANSITIONS: Readonly<Record<LoopState, readonly LoopState[]>> = {
  idle: ['starting'],
  starting: ['assigned', 'stopping', 'failed'],
  assigned: ['assigned', 'taking-over', 'stopping', 'failed'],
  'taking-over': ['processing', 'assigned', 'stopping', 'failed'],
  processing: ['assigned', 'stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** Operations of the loop and the states they may run in. */
export const LOOP_OPERATIONS = {
  /** A GROUP_JOIN: new partitions to take over. */
  assign: ['starting', 'assigned', 'taking-over', 'processing'],
  takeOwnership: ['taking-over'],
  processBatch: ['processing'],
} as const satisfies Record<string, readonly LoopState[]>;

export type LoopOperation = keyof typeof LOOP_OPERATIONS;

export class IllegalLoopTransition extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IllegalLoopTransition';
  }
}

export class LoopStateMachine {
  private current: LoopState = 'idle';

  constructor(
    /** For messages: the loop's stage name. */
    private readonly label: string,
    private readonly onTransition?: (from: LoopState, to: LoopState) => void,
  ) {}

  get state(): LoopState {
    return this.current;
  }

  is(...states: LoopState[]): boolean {
    return states.includes(this.current);
  }

  /** Whether the loop still runs (not stopping, stopped or failed). */
  get running(): boolean {
    return !this.is('stopping', 'stopped', 'failed');
  }

  canTransitionTo(next: LoopState): boolean {
    return LOOP_TRANSITIONS[this.current].includes(next);
  }

  transitionTo(next: LoopState): void {
    if (!this.canTransitionTo(next)) {
      throw new IllegalLoopTransition(`${this.label}: cannot go from ${this.current} to ${next}`);
    }
    const from = this.current;
    this.current = next;
    this.onTransition?.(from, next);
  }

  /** Throws unless `operation` is legal in the current state. */
  guard(operation: LoopOperation): void {
    const legal: readonly LoopState[] = LOOP_OPERATIONS[operation];
    if (!legal.includes(this.current)) {
      throw new IllegalLoopTransition(`${this.label}: ${operation} is not allowed in state ${this.current} (only in ${legal.join(', ')})`);
    }
  }
}
