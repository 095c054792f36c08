import { pino, type Logger } from 'pino';
import { redactSecrets } from './redact.js';

export type { Logger };

/**
 * One JSON logger for the daemon (pino). Every message and error passes through
 * redactSecrets, so a connection string with a password never lands in a log.
 */
export function createLogger(options: { level?: string; name?: string; /** File descriptor; default stdout. */ destination?: number } = {}): Logger {
  return pino({
    name: options.name ?? 'tideline',
    level: options.level ?? process.env.TIDELINE_LOG_LEVEL ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        const redacted = args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg));
        method.apply(this, redacted as Parameters<typeof method>);
      },
    },
    serializers: {
      err: (err: unknown) => {
        const serialized = pino.stdSerializers.err(err as Error);
        return { ...serialized, message: redactSecrets(serialized.message), stack: redactSecrets(serialized.stack ?? '') };
      },
    },
  }, options.destination === undefined ? undefined : pino.destination(options.destination));
}
