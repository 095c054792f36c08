/**
 * Paths (as interpolation and validation name them, e.g. `config.tables[0]`)
 * of the scalars the author quoted. A quoted `"${PASSWORD}"` stays a string
 * after interpolation even when the variable holds only digits; an unquoted
 * `${PARTITIONS:-3}` is re-read as a YAML scalar (the number 3).
 */
import { isMap, isPair, isScalar, isSeq, Scalar, visit, type Document } from 'yaml';

export function quotedScalarPaths(document: Document): Set<string> {
  const paths = new Set<string>();
  visit(document, {
    Scalar(_key, node, ancestors) {
      if (node.type === Scalar.PLAIN || typeof node.value !== 'string') return;
      const path = pathOf([...ancestors, node]);
      if (path !== null) paths.add(path);
    },
  });
  return paths;
}

/** Dotted path of the last node in `chain`; null for a mapping key. */
function pathOf(chain: readonly unknown[]): string | null {
  let path = '';
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isPair(parent)) {
      if (parent.key === child) return null;
      const key = isScalar(parent.key) ? String(parent.key.value) : String(parent.key);
      path = path ? `${path}.${key}` : key;
    } else if (isSeq(parent)) {
      path += `[${parent.items.indexOf(child as never)}]`;
    } else if (!isMap(parent)) {
      continue;
    }
  }
  return path;
}
