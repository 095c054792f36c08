/**
 * A synchronous evaluator for the subset of JSONata that processor configs use
 * most: field paths, literals, comparisons, `and`/`or`, `in`, arithmetic,
 * string concatenation and `? :`. It is built from the AST JSONata's own
 * parser produced (no parser here, no JavaScript evaluation) and follows
 * JSONata's semantics for plain values: a missing field is undefined, `=` with
 * an undefined side is false, `<` with one is undefined, `and`/`or` use
 * JSONata's truthiness.
 *
 * Whenever a value falls outside what the closures handle exactly (an array in
 * a path, which JSONata maps over; mixed types that JSONata rejects with an
 * error; a non-finite number), the evaluator returns NOT_FAST and the caller
 * asks JSONata itself, so results and errors are always JSONata's.
 */
import type jsonata from 'jsonata';

export const NOT_FAST: unique symbol = Symbol('not-fast');
type Result = unknown;
export type FastEvaluator = (input: unknown, bindings: Record<string, unknown>) => Result;
type Node = Omit<jsonata.ExprNode, 'type'> & { type: jsonata.ExprNode['type'] | 'path'; lhs?: Node; rhs?: Node; condition?: Node; then?: Node; else?: Node; expressions?: Node[]; stages?: unknown[]; predicate?: unknown[]; group?: unknown };

class NotFast extends Error {}
const notFast = new NotFast();

/** Returns null when the expression uses anything outside the subset. */
export function compileFastPath(ast: jsonata.ExprNode): FastEvaluator | null {
  const compiled = compile(ast as unknown as Node);
  if (!compiled) return null;
  return (input, bindings) => {
    try {
      return compiled(input, bindings);
    } catch (error) {
      if (error === notFast) return NOT_FAST;
      throw error;
    }
  };
}

type Closure = (input: unknown, bindings: Record<string, unknown>) => unknown;

function hasExtras(node: Node): boolean {
  return Boolean(node.stages?.length || node.predicate?.length || node.group || (node as { keepArray?: boolean }).keepArray || (node as { tuple?: boolean }).tuple);
}

function compile(node: Node): Closure | null {
  if (hasExtras(node)) return null;
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const value: unknown = node.value;
      return () => value;
    }
    case 'path':
      return compilePath(node);
    case 'variable': {
      // `$` alone is the input; `$name` a binding.
      const name = String(node.value ?? '');
      return name === '' ? (input) => plain(input) : (_input, bindings) => plain(bindings[name]);
    }
    case 'binary':
      return compileBinary(node);
    case 'unary':
      return compileUnary(node);
    case 'condition': {
      const condition = node.condition && compile(node.condition);
      const then = node.then && compile(node.then);
      const otherwise = node.else ? compile(node.else) : () => undefined;
      if (!condition || !then || !otherwise) return null;
      return (input, bindings) => (truthy(condition(input, bindings)) ? then(input, bindings) : otherwise(input, bindings));
    }
    default:
      return null;
  }
}

/** `a.b.c` or `$var.b.c`: object field lookups; an array anywhere means JSONata's mapping semantics. */
function compilePath(node: Node): Closure | null {
  const steps = (node as { steps?: Node[] }).steps ?? [];
  if (steps.length === 0) return null;
  let start: Closure = (input) => input;
  let rest = steps;
  const first = steps[0]!;
  if (first.type === 'variable') {
    if (hasExtras(first)) return null;
    const name = String(first.value ?? '');
    start = name === '' ? (input) => input : (_input, bindings) => bindings[name];
    rest = steps.slice(1);
  }
  const names: string[] = [];
  for (const step of rest) {
    if (step.type !== 'name' || hasExtras(step)) return null;
    names.push(String(step.value));
  }
  return (input, bindings) => {
    let value = start(input, bindings);
    for (const name of names) {
      if (value === null || value === undefined) return undefined;
      if (typeof value !== 'object' || Array.isArray(value)) throw notFast;
      value = (value as Record<string, unknown>)[name];
    }
    return plain(value);
  };
}

/** Values the closures handle exactly: undefined, null, boolean, finite number, string. */
function plain(value: unknown): unknown {
  if (value === undefined || value === null) return value;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      throw notFast;
    default:
      // Objects, arrays (sequences), bigint (int64 beyond 2^53): JSONata decides.
      throw notFast;
  }
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value.length > 0;
  throw notFast;
}

function compileUnary(node: Node): Closure | null {
  if (node.value === '-') {
    const operand = (node as { expression?: Node }).expression;
    const inner = operand && compile(operand);
    if (!inner) return null;
    return (input, bindings) => {
      const value = inner(input, bindings);
      if (value === undefined) return undefined;
      if (typeof value !== 'number') throw notFast;
      return -value;
    };
  }
  if (node.value === '[') {
    // An array of literals, as on the right of `in`.
    const items = node.expressions ?? [];
    if (!items.every((item) => item.type === 'string' || item.type === 'number' || item.type === 'value')) return null;
    const values = items.map((item) => item.value as unknown);
    return () => values;
  }
  return null;
}

function compileBinary(node: Node): Closure | null {
  const lhs = node.lhs && compile(node.lhs);
  const rhs = node.rhs && compile(node.rhs);
  if (!lhs || !rhs) return null;
  switch (node.value) {
    case 'and':
      return (input, bindings) => truthy(lhs(input, bindings)) && truthy(rhs(input, bindings));
    case 'or':
      return (input, bindings) => truthy(lhs(input, bindings)) || truthy(rhs(input, bindings));
    case '=':
    case '!=': {
      const negate = node.value === '!=';
      return (input, bindings) => {
        const left = lhs(input, bindings);
        const right = rhs(input, bindings);
        if (left === undefined || right === undefined) return false;
        if (Array.isArray(left) || Array.isArray(right)) throw notFast;
        return negate ? left !== right : left === right;
      };
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compileComparison(node.value, lhs, rhs);
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return compileArithmetic(node.value, lhs, rhs);
    case '&':
      return (input, bindings) => concatText(lhs(input, bindings)) + concatText(rhs(input, bindings));
    case 'in':
      return (input, bindings) => {
        const left = lhs(input, bindings);
        const right = rhs(input, bindings);
        if (left === undefined || right === undefined) return false;
        return Array.isArray(right) ? right.some((item) => item === left) : right === left;
      };
    default:
      return null;
  }
}

function compileComparison(op: string, lhs: Closure, rhs: Closure): Closure {
  const compare = { '<': (a: never, b: never) => a < b, '<=': (a: never, b: never) => a <= b, '>': (a: never, b: never) => a > b, '>=': (a: never, b: never) => a >= b }[op as '<']!;
  return (input, bindings) => {
    const left = lhs(input, bindings);
    const right = rhs(input, bindings);
    const lt = typeof left;
    const rt = typeof right;
    // JSONata: only numbers and strings compare, both of one type; undefined gives undefined.
    if ((lt !== 'undefined' && lt !== 'number' && lt !== 'string') || (rt !== 'undefined' && rt !== 'number' && rt !== 'string')) throw notFast;
    if (left === undefined || right === undefined) return undefined;
    if (lt !== rt) throw notFast;
    return compare(left as never, right as never);
  };
}

function compileArithmetic(op: string, lhs: Closure, rhs: Closure): Closure {
  return (input, bindings) => {
    const left = lhs(input, bindings);
    const right = rhs(input, bindings);
    if ((left !== undefined && typeof left !== 'number') || (right !== undefined && typeof right !== 'number')) throw notFast;
    if (left === undefined || right === undefined) return undefined;
    let result: number;
    switch (op) {
      case '+':
        result = left + right;
        break;
      case '-':
        result = left - right;
        break;
      case '*':
        result = left * right;
        break;
      case '/':
        result = left / right;
        break;
      default:
        result = left % right;
    }
    if (!Number.isFinite(result)) throw notFast;
    return result;
  };
}

/** `&` turns values into text as JSONata's $string does; only the unambiguous cases here. */
function concatText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) < 1e15) return String(value);
  throw notFast;
}
