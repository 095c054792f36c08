import type { Logger } from '../core/logger.js';
import { ExitCode } from './exit-codes.js';

/** Resolves at the first SIGINT or SIGTERM; a second one while stopping exits at once. */
export function untilSignal(logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const force = (): void => process.exit(ExitCode.failure);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Calls `handler` on every SIGHUP (the daemon reloads its connector files)
 * instead of Node's default of exiting. Returns the function that removes it.
 */
export function onHangUp(handler: () => void): () => void {
  process.on('SIGHUP', handler);
  return () => process.off('SIGHUP', handler);
}
