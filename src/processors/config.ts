/** Config pieces shared by the processor kinds: expressions, durations, topic names. */
import { z } from 'zod';
import { describeSyntaxError, parseExpression } from './expression.js';

/**
 * A JSONata expression, parsed while the config loads: a syntax error becomes
 * a config problem naming the field, the expression and the position.
 */
export function expressionText(description: string) {
  return z
    .string()
    .min(1)
    .superRefine((text, context) => {
      const parsed = parseExpression(text);
      if ('error' in parsed) context.addIssue({ code: 'custom', message: describeSyntaxError(text, parsed.error) });
    })
    .describe(description);
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds from `500ms`, `30s`, `5m`, `1h`, `1d` or a number of milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  return Number.isInteger(ms) ? ms : undefined;
}

export function durationSchema(description: string) {
  return z
    .union([z.string(), z.number()])
    .transform((value, context) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        context.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. 500ms, 30s, 5m, 1h, or milliseconds)` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(description);
}

/** Kafka's legal topic names. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

export function topicName(description: string) {
  return z.string().regex(TOPIC_NAME, 'must be a Kafka topic name: letters, digits, ".", "_" and "-"').describe(description);
}
