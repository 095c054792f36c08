/**
 * JSON with exact 64-bit integers: Debezium writes int64 values beyond 2^53 as
 * plain JSON numbers, which JSON.parse would round. Also used by the aggregate
 * processor's internal state records.
 */
import { parse as parseLossless } from 'lossless-json';

const BIGINT_MARK = '\u0000bigint:';
const BIGINT_TOKEN = /"\\u0000bigint:(-?\d+)"/g;

/**
 * JSON.stringify that writes bigint values (int64 beyond 2^53) as exact JSON
 * numbers, as Debezium does. The common case, no bigint, costs one native call.
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const marked = JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? `${BIGINT_MARK}${inner}` : inner));
    return marked.replace(BIGINT_TOKEN, '$1');
  }
}

function parseExactNumber(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) || !/^-?\d+$/.test(text) ? value : BigInt(text);
}

/**
 * JSON.parse, except that integers beyond 2^53 come back as exact bigint: the
 * parsed value is checked, and only when an integer came out beyond 2^53 does
 * the slower lossless parser run (a 16-digit MicroTimestamp or a long double
 * such as 0.3333333333333333 does not need it). Checking the parsed value
 * costs less than scanning the text for long digit runs.
 */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return hasUnsafeInteger(value) ? parseLossless(text, null, parseExactNumber) : value;
}

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasUnsafeInteger);
  for (const key in value) if (hasUnsafeInteger((value as Record<string, unknown>)[key])) return true;
  return false;
}
