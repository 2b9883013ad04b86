/**
 * The error of a bad command-line value or an input set a job cannot work on (a missing part,
 * an output that belongs to another run). The commands print its message as one line and exit
 * with code 2, like a `TypeError` or `RangeError`.
 *
 * @module
 */

/**
 * A bad flag value, or inputs and outputs that a job refuses (named in the message).
 *
 * @example Usage
 * ```ts
 * import { UsageError } from "./usage_error.ts";
 * const e = new UsageError("Missing --k (see --help)");
 * console.log(e.name); // UsageError
 * ```
 */
export class UsageError extends Error {
  override name = "UsageError";
}
