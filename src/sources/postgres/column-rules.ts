/**
 * The source's `columns` setting: which columns of a captured table reach
 * Kafka, and which are masked or hashed on the way (column-masking.ts).
 *
 * Entries are "schema.table.column" globs, one glob per part: `*` matches any
 * run of characters and `?` one character, never across a dot, so
 * "public.*.ssn" is every table's ssn in schema public and nothing deeper.
 * (Debezium's column.include.list / column.exclude.list are regular
 * expressions over the fully-qualified name, where `.*` also crosses parts;
 * a glob per part says what it matches at a glance.)
 *
 * - `include`: only matching columns are kept, in every captured table: a
 *   table none of whose columns is listed keeps none, and its key columns are
 *   refused (below). A column added later is left out until it is listed.
 * - `exclude`: matching columns are left out.
 * - `mask` / `hash`: the kept columns they match are replaced.
 *
 * A key column (primary key, else replica-identity index) that would be left
 * out, masked or hashed is refused with an error naming it: the key decides
 * the topic's compaction, the partition and the sink's rows, and a hashed key
 * would also reach Kafka in clear in the snapshot's resume position. A column
 * matched by more than one mask/hash entry is refused too, rather than one
 * entry silently winning.
 *
 * The plan of a table is made once per Relation message; the rows of a table
 * without rules go through the same code as before (column-masking.ts runs
 * only for the columns it applies to).
 */
import { SourceTypeParameter, UNAVAILABLE_VALUE, type ConnectSchema } from '../../core/connect-schema.js';
import { TidelineError } from '../../core/errors.js';
import { hasher, maskText, type HashSettings } from './column-masking.js';
import type { ColumnsConfig } from './spec.js';
import type { ValueMapping } from './type-mapping.js';

/** What happens to one kept column: passed as is, masked, or hashed. */
export type ColumnTreatment =
  | { kind: 'keep' }
  | { kind: 'mask'; text: string; entry: string }
  | { kind: 'hash'; hash: (maxLength?: number) => (text: string) => string; entry: string };

/** The columns of one table that reach Kafka (absent: left out), in table order. */
export type TableColumnPlan = Map<string, ColumnTreatment>;

/** A column rule that cannot apply to a table (a key column left out, masked or hashed; two rules on one column). */
export class ColumnRuleError extends TidelineError {
  constructor(readonly problems: string[]) {
    super(`columns: ${problems.join('; ')}`);
  }
}

const KEEP: ColumnTreatment = { kind: 'keep' };

/** "schema.table.column" glob to a RegExp over a qualified column name; `*` and `?` stay within one part. */
export function columnPattern(entry: string): RegExp {
  const part = (text: string): string => text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]');
  return new RegExp(`^${entry.split('.').map(part).join('\\.')}$`);
}

interface Rule<T> {
  entry: string;
  pattern: RegExp;
  treatment: T;
}

export class ColumnRules {
  private readonly include: Rule<null>[] | null;
  private readonly exclude: Rule<null>[];
  private readonly replace: Rule<Exclude<ColumnTreatment, { kind: 'keep' }>>[];

  constructor(config: ColumnsConfig) {
    const rule = <T>(entry: string, treatment: T): Rule<T> => ({ entry, pattern: columnPattern(entry), treatment });
    this.include = config.include ? config.include.map((entry) => rule(entry, null)) : null;
    this.exclude = (config.exclude ?? []).map((entry) => rule(entry, null));
    this.replace = [
      ...config.mask.map((mask) => rule(mask.column, { kind: 'mask' as const, text: maskText(mask.length), entry: `mask ${mask.column}` })),
      ...config.hash.map((hash) => {
        const settings: HashSettings = { algorithm: hash.algorithm, salt: hash.salt, version: hash.version };
        return rule(hash.column, { kind: 'hash' as const, hash: (maxLength?: number) => hasher(settings, maxLength), entry: `hash ${hash.column}` });
      }),
    ];
  }

  /** Whether the column reaches Kafka at all. */
  private kept(qualified: string): boolean {
    if (this.include && !this.include.some((rule) => rule.pattern.test(qualified))) return false;
    return !this.exclude.some((rule) => rule.pattern.test(qualified));
  }

  /**
   * The plan for one table's columns; throws ColumnRuleError naming every
   * key column the rules would leave out or replace and every column two
   * replace rules claim.
   */
  plan(schema: string, table: string, columns: readonly string[], keyColumns: readonly string[]): TableColumnPlan {
    const plan: TableColumnPlan = new Map();
    const problems: string[] = [];
    const keys = new Set(keyColumns);
    for (const column of columns) {
      const qualified = `${schema}.${table}.${column}`;
      const isKey = keys.has(column);
      if (!this.kept(qualified)) {
        if (isKey) {
          const why = this.include ? 'columns.include does not list it' : 'columns.exclude lists it';
          problems.push(`column ${qualified} is a key column of ${schema}.${table} and cannot be left out (${why}); the key must reach Kafka`);
        }
        continue;
      }
      const replacing = this.replace.filter((rule) => rule.pattern.test(qualified));
      if (replacing.length > 1) {
        problems.push(`column ${qualified} is matched by more than one rule (${replacing.map((rule) => rule.treatment.entry).join(', ')}); keep one`);
      } else if (replacing.length === 1 && isKey) {
        problems.push(`column ${qualified} is a key column of ${schema}.${table} and cannot be ${replacing[0]!.treatment.kind === 'mask' ? 'masked' : 'hashed'} (${replacing[0]!.treatment.entry})`);
      }
      plan.set(column, replacing[0]?.treatment ?? KEEP);
    }
    if (problems.length > 0) throw new ColumnRuleError(problems);
    return plan;
  }

  /**
   * Entries that match no column of the given tables ("schema.table" to its
   * column names): most likely a typo, which for exclude, mask and hash means
   * a value reaches Kafka that was meant not to.
   */
  unmatched(tables: ReadonlyMap<string, readonly string[]>): string[] {
    const names: string[] = [];
    for (const [table, columns] of tables) for (const column of columns) names.push(`${table}.${column}`);
    const rules = [
      ...(this.include ?? []).map((rule) => ({ label: `include ${rule.entry}`, pattern: rule.pattern })),
      ...this.exclude.map((rule) => ({ label: `exclude ${rule.entry}`, pattern: rule.pattern })),
      ...this.replace.map((rule) => ({ label: rule.treatment.entry, pattern: rule.pattern })),
    ];
    return rules.filter((rule) => !names.some((name) => rule.pattern.test(name))).map((rule) => rule.label);
  }
}

/** The source types Debezium masks and hashes (its string JDBC types): their schema stays, with `masked`. */
const STRING_SOURCE_TYPES = new Set(['TEXT', 'VARCHAR', 'BPCHAR']);

/**
 * A masked or hashed column's mapping. Text columns keep their schema (and
 * its declared length, which cuts the hash), plus Debezium's parameter
 * `masked: "true"`. Other types become plain strings: Debezium leaves them in
 * clear, tideline replaces their text form, and drops their semantic name and
 * source type, which no longer describe the value. NULL: the mask (as
 * Debezium), or null when hashed; an unchanged TOASTed value: the mask, or
 * Debezium's placeholder (the sink then keeps the stored hash).
 */
export function protectedMapping(
  mapping: ValueMapping,
  treatment: Exclude<ColumnTreatment, { kind: 'keep' }>,
): { mapping: ValueMapping; nullValue: unknown; unavailable: unknown } {
  const parameters = mapping.schema.parameters ?? {};
  const isText = mapping.schema.type === 'string' && !mapping.schema.name && STRING_SOURCE_TYPES.has(parameters[SourceTypeParameter.type] ?? '');
  const schema: Omit<ConnectSchema, 'optional'> = isText ? { ...mapping.schema, parameters: { ...parameters, masked: 'true' } } : { type: 'string', parameters: { masked: 'true' } };
  if (treatment.kind === 'mask') {
    const text = treatment.text;
    return { mapping: { schema, fromText: () => text }, nullValue: text, unavailable: text };
  }
  const length = isText ? Number(parameters[SourceTypeParameter.length]) : NaN;
  const hash = treatment.hash(Number.isInteger(length) && length > 0 ? length : undefined);
  return { mapping: { schema, fromText: hash }, nullValue: null, unavailable: UNAVAILABLE_VALUE };
}
