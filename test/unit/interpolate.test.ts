import { describe, expect, it } from 'vitest';
import { interpolateDocument, interpolateString, type InterpolationProblem } from '../../src/config/interpolate.js';

function interpolate(document: unknown, env: NodeJS.ProcessEnv): { value: unknown; problems: InterpolationProblem[] } {
  const problems: InterpolationProblem[] = [];
  const value = interpolateDocument(document, env, problems);
  return { value, problems };
}

function missingMessage(name: string): string {
  return `environment variable ${name} is not set (give a default with \${${name}:-value})`;
}

describe('interpolateString', () => {
  it('replaces ${VAR} with its value', () => {
    const missing: string[] = [];
    expect(interpolateString('kafka://${HOST}:${PORT}/x', { HOST: 'broker', PORT: '9092' }, (name) => missing.push(name))).toBe('kafka://broker:9092/x');
    expect(missing).toEqual([]);
  });

  it('uses the default of ${VAR:-default} when the variable is unset', () => {
    expect(interpolateString('${HOST:-localhost}:${PORT:-9092}', {}, () => undefined)).toBe('localhost:9092');
  });

  it('prefers the variable over the default when set', () => {
    expect(interpolateString('${HOST:-localhost}', { HOST: 'db' }, () => undefined)).toBe('db');
  });

  it('treats an empty variable as unset (default used)', () => {
    expect(interpolateString('${HOST:-localhost}', { HOST: '' }, () => undefined)).toBe('localhost');
  });

  it('accepts an empty default', () => {
    const missing: string[] = [];
    expect(interpolateString('a${X:-}b', {}, (name) => missing.push(name))).toBe('ab');
    expect(missing).toEqual([]);
  });

  it('keeps a default that holds colons and slashes', () => {
    expect(interpolateString('${URL:-postgres://u:p@h:5432/db}', {}, () => undefined)).toBe('postgres://u:p@h:5432/db');
  });

  it('writes $${ as a literal ${ without interpolating', () => {
    const missing: string[] = [];
    expect(interpolateString('cost $${PRICE} and ${A}', { A: 'a', PRICE: 'no' }, (name) => missing.push(name))).toBe('cost ${PRICE} and a');
    expect(missing).toEqual([]);
  });

  it('reports every unset variable without a default and leaves it empty', () => {
    const missing: string[] = [];
    expect(interpolateString('${A}-${B}-${C:-c}', { B: '' }, (name) => missing.push(name))).toBe('--c');
    expect(missing).toEqual(['A', 'B']);
  });

  it('does not interpolate the value of a variable a second time', () => {
    expect(interpolateString('${A}', { A: '${B}', B: 'b' }, () => undefined)).toBe('${B}');
  });

  it('leaves text that is not a reference alone', () => {
    expect(interpolateString('$HOME {x} $ {y} ${1BAD}', { HOME: 'h' }, () => undefined)).toBe('$HOME {x} $ {y} ${1BAD}');
  });
});

describe('interpolateDocument', () => {
  it('re-reads a scalar that is exactly one reference as YAML (number, boolean)', () => {
    const { value, problems } = interpolate(
      { partitions: '${N:-3}', ssl: '${SSL}', ratio: '${R}', off: '${OFF:-false}' },
      { SSL: 'true', R: '0.5' },
    );
    expect(problems).toEqual([]);
    expect(value).toEqual({ partitions: 3, ssl: true, ratio: 0.5, off: false });
  });

  it('keeps a whole reference as a string when it is not a scalar number or boolean', () => {
    const { value } = interpolate({ a: '${A}', b: '${B}', c: '${C}', d: '${D}' }, { A: 'hello', B: 'null', C: '[1, 2]', D: 'x: 1' });
    expect(value).toEqual({ a: 'hello', b: 'null', c: '[1, 2]', d: 'x: 1' });
  });

  it('keeps a partial reference as a string', () => {
    const { value } = interpolate({ a: 'p-${N:-3}', b: '${N:-3}0', c: '${N:-3}${N:-3}' }, {});
    expect(value).toEqual({ a: 'p-3', b: '30', c: '33' });
  });

  it('does not re-read a literal string that holds no reference', () => {
    const { value } = interpolate({ a: '3', b: 'true' }, {});
    expect(value).toEqual({ a: '3', b: 'true' });
  });

  it('does not re-read an escaped reference', () => {
    const { value } = interpolate({ a: '$${N:-3}' }, {});
    expect(value).toEqual({ a: '${N:-3}' });
  });

  it('leaves non-string scalars untouched', () => {
    const { value } = interpolate({ n: 1, b: false, z: null }, {});
    expect(value).toEqual({ n: 1, b: false, z: null });
  });

  it('reports a missing variable with the dotted path of its field', () => {
    const { value, problems } = interpolate({ config: { url: '${PG_URL}' } }, {});
    expect(value).toEqual({ config: { url: '' } });
    expect(problems).toEqual([{ path: 'config.url', message: missingMessage('PG_URL') }]);
  });

  it('names array elements by index, nested in objects', () => {
    const { value, problems } = interpolate(
      { config: { tables: ['public.a', '${T2}', { deep: ['x', '${D}'] }] }, top: '${TOP}' },
      { D: 'dd' },
    );
    expect(value).toEqual({ config: { tables: ['public.a', '', { deep: ['x', 'dd'] }] }, top: '' });
    expect(problems).toEqual([
      { path: 'config.tables[1]', message: missingMessage('T2') },
      { path: 'top', message: missingMessage('TOP') },
    ]);
  });

  it('reports a top-level array element with a bare index path', () => {
    const { problems } = interpolate(['${A}', ['${B}']], {});
    expect(problems).toEqual([
      { path: '[0]', message: missingMessage('A') },
      { path: '[1][0]', message: missingMessage('B') },
    ]);
  });

  it('reports each missing variable of one field', () => {
    const { problems } = interpolate({ url: '${U}:${P}' }, {});
    expect(problems).toEqual([
      { path: 'url', message: missingMessage('U') },
      { path: 'url', message: missingMessage('P') },
    ]);
  });

  it('does not change the input document', () => {
    const input = { a: ['${A}'] };
    interpolate(input, { A: 'x' });
    expect(input).toEqual({ a: ['${A}'] });
  });
});
