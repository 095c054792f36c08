import { describe, expect, it } from 'vitest';
import { IllegalLoopTransition, LOOP_TRANSITIONS, LoopStateMachine, type LoopState } from '../../src/kafka/loop-state.js';

const ALL: LoopState[] = ['idle', 'starting', 'assigned', 'taking-over', 'processing', 'stopping', 'stopped', 'failed'];

function machineIn(state: LoopState): LoopStateMachine {
  // The shortest legal path to each state.
  const paths: Record<LoopState, LoopState[]> = {
    idle: [],
    starting: ['starting'],
    assigned: ['starting', 'assigned'],
    'taking-over': ['starting', 'assigned', 'taking-over'],
    processing: ['starting', 'assigned', 'taking-over', 'processing'],
    stopping: ['starting', 'stopping'],
    stopped: ['starting', 'stopping', 'stopped'],
    failed: ['starting', 'failed'],
  };
  const machine = new LoopStateMachine('test');
  for (const next of paths[state]) machine.transitionTo(next);
  expect(machine.state).toBe(state);
  return machine;
}

describe('processor loop state machine', () => {
  it('runs the normal life: start, join, take over, process, rejoin, take over again, stop', () => {
    const seen: string[] = [];
    const machine = new LoopStateMachine('stage', (from, to) => seen.push(`${from}>${to}`));
    for (const next of ['starting', 'assigned', 'taking-over', 'processing', 'assigned', 'taking-over', 'processing', 'stopping', 'stopped'] as const) {
      machine.transitionTo(next);
    }
    expect(seen[0]).toBe('idle>starting');
    expect(seen.at(-1)).toBe('stopping>stopped');
    expect(machine.running).toBe(false);
  });

  it('allows exactly the transitions of the table and throws on every other one', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        const machine = machineIn(from);
        if (LOOP_TRANSITIONS[from].includes(to)) {
          machine.transitionTo(to);
          expect(machine.state).toBe(to);
        } else {
          expect(() => machine.transitionTo(to), `${from} -> ${to}`).toThrow(IllegalLoopTransition);
          expect(machine.state).toBe(from);
        }
      }
    }
  });

  it('never processes a batch before a takeover completed, nor after stopping', () => {
    expect(() => machineIn('assigned').guard('processBatch')).toThrow(/processBatch is not allowed in state assigned/);
    expect(() => machineIn('taking-over').guard('processBatch')).toThrow(IllegalLoopTransition);
    expect(() => machineIn('stopping').guard('processBatch')).toThrow(IllegalLoopTransition);
    expect(() => machineIn('processing').guard('processBatch')).not.toThrow();
  });

  it('takes ownership only while taking over', () => {
    expect(() => machineIn('taking-over').guard('takeOwnership')).not.toThrow();
    for (const state of ALL.filter((s) => s !== 'taking-over')) expect(() => machineIn(state).guard('takeOwnership')).toThrow(IllegalLoopTransition);
  });

  it('a join or a fenced batch during a takeover sends it back to assigned, never straight to processing', () => {
    const machine = machineIn('taking-over');
    machine.transitionTo('assigned');
    expect(() => machine.transitionTo('processing')).toThrow(IllegalLoopTransition);
    expect(() => machineIn('assigned').guard('assign')).not.toThrow();
    expect(() => machineIn('stopped').guard('assign')).toThrow(IllegalLoopTransition);
  });

  it('stopped and failed are final', () => {
    for (const final of ['stopped', 'failed'] as const) {
      for (const to of ALL) expect(() => machineIn(final).transitionTo(to)).toThrow(IllegalLoopTransition);
    }
  });
});
