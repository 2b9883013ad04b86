/**
 * Approximate top-l assignment with hnswlib-node (HNSW graphs), loaded lazily.
 *
 * @example Usage
 * ```ts ignore
 * import { annTopk, buildHnswIndex } from "./mod.ts";
 * const index = await buildHnswIndex(centers);
 * const { indices } = annTopk(index, queries, { k: 8 });
 * ```
 *
 * @module
 */
export {
  annTopk,
  type AnnTopkOptions,
  buildHnswIndex,
  DEFAULT_HNSW_EF,
  type HnswBuildOptions,
  type HnswIndex,
  recallAtK,
} from "./hnsw.ts";
