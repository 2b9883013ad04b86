/**
 * The toolkit version: written into checkpoint manifests and part of every autotune
 * cache key. Keep in step with deno.json (a test checks it).
 *
 * @example Usage
 * ```ts
 * import { TOOLKIT_VERSION } from "./version.ts";
 * console.log(TOOLKIT_VERSION);
 * ```
 */
export const TOOLKIT_VERSION = "0.1.0";
