/**
 * Where a supervisor's connector runs: in the daemon's own thread (the
 * default host here) or in a worker thread of its own (worker/worker-host.ts,
 * `tideline run --threads`). The supervisor makes the context and drives the
 * runs the same way with either; the host makes the Connector each attempt
 * runs and is closed once the supervisor has stopped.
 */
import type { Connector, ConnectorContext } from '../core/connector.js';
import type { ConnectorDefinition } from '../config/load.js';

export interface ConnectorHost {
  /** A fresh connector for one attempt (its run() uses `context` for state and health). */
  create(context: ConnectorContext<unknown>): Connector;
  /** The supervisor has stopped: release the thread, if any. */
  close(): Promise<void>;
}

/** Runs the connector in the calling thread: spec.create(context). */
export function inThreadHost(definition: ConnectorDefinition): ConnectorHost {
  return {
    create: (context) => definition.spec.create(context),
    close: () => Promise.resolve(),
  };
}
