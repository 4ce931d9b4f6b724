// Assertions stay on in production: a crash is recoverable, a corrupted balance is not.
// Never catch AssertionError to carry on.

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assert_never(value: never, what = "value"): never {
  throw new AssertionError(`unhandled ${what}: ${String(value)}`);
}
