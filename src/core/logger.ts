import { isatty } from 'node:tty';
import { pino, type Logger } from 'pino';
import { logFormat, prettyDestination, type LogFormat } from './log-pretty.js';
import { redactSecrets } from './redact.js';

export type { Logger };

/**
 * One JSON logger for the daemon (pino). Every message and error passes through
 * redactSecrets, so a connection string with a password never lands in a log.
 * On a terminal the same lines are laid out for reading (log-pretty.ts);
 * `format` (else TIDELINE_LOG_FORMAT, else: pretty on a terminal) chooses.
 */
export function createLogger(
  options: { level?: string; name?: string; format?: LogFormat; /** A file descriptor (default 1, stdout) or a stream. */ destination?: number | NodeJS.WritableStream } = {},
): Logger {
  const fd = typeof options.destination === 'number' ? options.destination : undefined;
  const stream = typeof options.destination === 'number' ? undefined : options.destination;
  // Pretty by default where the lines go to a terminal.
  const onTerminal = stream === undefined && isatty(fd ?? 1);
  const format = options.format ?? logFormat(process.env, onTerminal);
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
  }, format === 'pretty' ? prettyDestination(stream ?? (fd === 2 ? process.stderr : process.stdout), onTerminal) : (stream ?? (fd === undefined ? undefined : pino.destination(fd))));
}
