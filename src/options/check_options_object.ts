// The API convention's one options object: a call in the old positional style (a count where
// the options object goes) fails with a TypeError that shows the new form.

/**
 * Throws a TypeError unless `options` is an object (not null, not an array), naming the
 * function and the expected form, e.g. `topk(gpu, queries, keys, { k: 8 })`.
 */
export function checkOptionsObject(fn: string, options: unknown, example = "{ k: 8 }"): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    const found = typeof options === "string" ? JSON.stringify(options) : String(options);
    throw new TypeError(
      `Expected the options of ${fn}() to be an object such as ${example} but found ${found}`,
    );
  }
}
