/**
 * Expressions in processor configs are JSONata (https://jsonata.org): a query
 * language with its own parser and evaluator. It cannot reach JavaScript
 * globals, the file system or the network, so a connector file cannot run
 * arbitrary code. Every expression is parsed at config load; a syntax error is
 * reported with the expression and the position JSONata gives.
 *
 * JSONata's evaluate is asynchronous and costs ~14 µs for a simple predicate.
 * Most processor expressions are plain comparisons of fields, so those are
 * also compiled from JSONata's own AST into closures (fast-path.ts); anything
 * the fast path does not cover, or a value it is unsure about, goes to JSONata.
 */
import jsonata from 'jsonata';
import { compileFastPath, NOT_FAST, type FastEvaluator } from './fast-path.js';

export interface ExpressionSyntaxError {
  /** JSONata's message, e.g. "Unexpected end of expression". */
  message: string;
  /** Character position JSONata reports (1-based, at or just after the offending token). */
  position: number | undefined;
  /** JSONata's error code, e.g. S0207. */
  code: string | undefined;
}

export type Bindings = Record<string, unknown>;

export class Expression {
  private constructor(
    readonly text: string,
    private readonly compiled: jsonata.Expression,
    private readonly fast: FastEvaluator | null,
  ) {}

  /** Parses `text`; throws ExpressionError on a syntax error. */
  static compile(text: string): Expression {
    const parsed = parseExpression(text);
    if ('error' in parsed) throw new ExpressionError(text, parsed.error);
    return new Expression(text, parsed.expression, compileFastPath(parsed.expression.ast()));
  }

  /** True when every evaluation can take the synchronous fast path (no JSONata call). */
  get isFast(): boolean {
    return this.fast !== null;
  }

  /**
   * Evaluates against `input`; `bindings` become `$name` variables. Returns
   * undefined where JSONata has no result (a missing field). Throws on a type
   * error (e.g. comparing a string with a number).
   */
  async evaluate(input: unknown, bindings: Bindings = {}): Promise<unknown> {
    if (this.fast) {
      const value = this.fast(input, bindings);
      if (value !== NOT_FAST) return value;
    }
    return this.compiled.evaluate(input, bindings);
  }
}

/** A JSONata syntax error, with the expression it is about. */
export class ExpressionError extends Error {
  constructor(readonly expression: string, readonly syntax: ExpressionSyntaxError) {
    super(describeSyntaxError(expression, syntax));
  }
}

/** `invalid expression "a >" at position 3: Unexpected end of expression (JSONata S0207)` */
export function describeSyntaxError(expression: string, error: ExpressionSyntaxError): string {
  const where = error.position === undefined ? '' : ` at position ${error.position}`;
  const code = error.code ? ` (JSONata ${error.code})` : '';
  return `invalid expression ${JSON.stringify(expression)}${where}: ${error.message}${code}`;
}

export function parseExpression(text: string): { expression: jsonata.Expression } | { error: ExpressionSyntaxError } {
  try {
    return { expression: jsonata(text) };
  } catch (error) {
    const detail = error as { message?: string; position?: number; code?: string };
    return {
      error: {
        message: detail.message ?? String(error),
        position: typeof detail.position === 'number' ? detail.position : undefined,
        code: typeof detail.code === 'string' ? detail.code : undefined,
      },
    };
  }
}

/** JSONata's truthiness (its `$boolean`), for filters: undefined, null, 0, "", [] and {} are false. */
export function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.some(isTruthy);
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      return value !== 0;
    case 'bigint':
      return value !== 0n;
    case 'string':
      return value.length > 0;
    case 'object':
      return Object.keys(value).length > 0;
    default:
      return false;
  }
}
