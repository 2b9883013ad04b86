/**
 * Approximate top-l assignment with HNSW graphs (`hnswlib-node`, a native addon that
 * `deno task setup` builds), loaded on first use. npm: `hnswlib-node`.
 *
 * @example Usage
 * ```ts ignore
 * import { annTopk, buildHnswIndex } from "./ann.ts";
 * const index = await buildHnswIndex(centers);
 * const { indices } = annTopk(index, queries, { k: 8 });
 * ```
 *
 * @module
 */
export * from "./src/ann/mod.ts";
