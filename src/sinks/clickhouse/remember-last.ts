/**
 * `compute` remembering its last argument and result: the rows of a
 * transaction often share a date or a timestamp (now(), a bulk update's), so
 * a column's converter meets the same value row after row. An argument
 * `compute` throws for is not remembered.
 */
export function rememberLast<A, R>(compute: (argument: A) => R): (argument: A) => R {
  let remembered = false;
  let lastArgument: A | undefined;
  let lastResult: R | undefined;
  return (argument) => {
    if (remembered && argument === lastArgument) return lastResult!;
    lastResult = compute(argument);
    lastArgument = argument;
    remembered = true;
    return lastResult;
  };
}
