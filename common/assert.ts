// Assertions stay on in production: a crash is recoverable, a corrupted balance is not.
// Never catch AssertionError to carry on.

export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Throws AssertionError unless `condition` holds. A message written as a template literal is
 * built on every call, the condition held or not (about 5 ns with a number in it, measured
 * here): on a per-order path, guard it, `if (!ok) assert(false, \`... ${x}\`)`. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assert_never(value: never, what = "value"): never {
  throw new AssertionError(`unhandled ${what}: ${String(value)}`);
}
