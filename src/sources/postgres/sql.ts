/** Quoting for identifiers in SQL we generate (names come from config files). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** "schema.table" (or "table", meaning public) to its parts. */
export function splitTableName(qualified: string): { schema: string; table: string } {
  const dot = qualified.indexOf('.');
  return dot < 0 ? { schema: 'public', table: qualified } : { schema: qualified.slice(0, dot), table: qualified.slice(dot + 1) };
}

export function qualifiedIdent(qualified: string): string {
  const { schema, table } = splitTableName(qualified);
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
