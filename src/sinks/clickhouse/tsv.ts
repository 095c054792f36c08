/** TabSeparated text as ClickHouse reads and writes it (escaping is in type-mapping.ts: escapeTsv). */

/** Undoes TabSeparated escaping (as ClickHouse writes it: \b \f \r \n \t \0 \' \\). */
export function unescapeTsv(field: string): string {
  if (!field.includes('\\')) return field;
  const map: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0' };
  return field.replace(/\\(.)/g, (_, char: string) => map[char] ?? char);
}
