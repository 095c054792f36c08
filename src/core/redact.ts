/**
 * Secrets never reach logs, errors or the admin API. Connection strings are the
 * usual carrier: `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
 */
// scheme://user:password@host: the password runs to the last "@" of the token,
// since passwords may themselves hold "@"; the user may be empty.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)(\S+)(@[^@\s]*)/gi;
// password=..., PGPASSWORD=..., pwd=... in key=value strings and environments.
const KEY_VALUE_PASSWORD = /\b([a-z_]*password|passwd|pwd)=([^\s&]+)/gi;

export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***$3').replace(KEY_VALUE_PASSWORD, '$1=***');
}

/** Field names whose values are secrets wherever they appear in config objects (`salt`: the postgres-source's column hashes). */
export const SECRET_FIELD = /^(password|secret|token|apiKey|api_key|sasl|salt)$/i;

/** A deep copy of a config object safe to show: secret fields masked, URLs redacted. */
export function redactConfig(value: unknown): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (Array.isArray(value)) return value.map(redactConfig);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = SECRET_FIELD.test(key) ? '***' : redactConfig(inner);
    }
    return out;
  }
  return value;
}
