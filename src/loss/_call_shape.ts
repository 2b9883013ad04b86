// The loss's one call shape, fn(gpu, embeddings, centers, positives, options) (mlcdLossTf: no
// gpu): the forms it replaced fail with a TypeError that shows it.
import { checkOptionsObject } from "../options/check_options_object.ts";

/** An example of the options, for the messages. */
const OPTIONS_EXAMPLE = "{ sampled, scale: 64, margin: 0.3 }";

/** Whether `x` looks like the toolkit's `Gpu` (what `createGpu` returns). */
function looksLikeGpu(x: unknown): boolean {
  return typeof x === "object" && x !== null && "device" in x && "quirks" in x;
}

/**
 * Throws a TypeError showing the new form for the old one-object call
 * (`mlcdLoss(gpu, { embeddings, centers, positives, ... })`), a `Gpu` passed first to the
 * tfjs-level `mlcdLossTf`, or options that are not an object.
 *
 * @param fn The function's name (`mlcdLossTf` takes no gpu).
 * @param embeddings What was passed as the embeddings.
 * @param options What was passed as the options.
 */
export function checkLossCall(
  fn: "mlcdLoss" | "mlcdLossOp" | "mlcdLossTf",
  embeddings: unknown,
  options: unknown,
): void {
  const gpu = fn === "mlcdLossTf" ? "" : "gpu, ";
  const form = `${fn}(${gpu}embeddings, centers, positives, options)`;
  if (!gpu && looksLikeGpu(embeddings)) {
    throw new TypeError(
      `Expected ${form}, which takes no gpu, but found a Gpu as the first argument`,
    );
  }
  if (
    typeof embeddings === "object" && embeddings !== null && "embeddings" in embeddings &&
    "positives" in embeddings
  ) {
    throw new TypeError(
      `Expected ${form} but found one object { embeddings, centers, positives, ... } in place of the embeddings`,
    );
  }
  if (options !== undefined) checkOptionsObject(fn, options, OPTIONS_EXAMPLE);
}
