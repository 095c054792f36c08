/**
 * SQL text for ClickHouse 18.16, which has no query parameters: every name and
 * literal we put into SQL goes through these functions.
 */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function qualified(database: string, table: string): string {
  return `${quoteIdent(database)}.${quoteIdent(table)}`;
}

/** A key value as a SQL literal of the column's type (18.16: no query parameters). */
export function sqlLiteral(text: string, type: string): string {
  const base = type.replace(/^Nullable\((.*)\)$/, '$1');
  if (/^U?Int\d+$/.test(base) && /^-?\d+$/.test(text)) return text;
  if (base === 'String') return quoteString(text);
  return `CAST(${quoteString(text)} AS ${base})`;
}
