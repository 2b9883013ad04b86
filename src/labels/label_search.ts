import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import { buildCenterIndex, type CenterIndex } from "../ivf/center_index.ts";
import { ivfTopk } from "../ivf/ivf_topk.ts";
import { chooseIvfSearch, type IvfSearch, type IvfSearchChoice } from "../ivf/ivf_auto.ts";
import type { TopkMetric, TopkResult, TopkVariant } from "../topk/topk_options.ts";
import { uploadTopkKeys } from "../topk/upload_topk_keys.ts";

/**
 * Smallest number of centers for which `search: "auto"` labels through the IVF index when it
 * cannot time (autotuning disabled); the timed rule decides per adapter otherwise.
 */
export const LABELS_IVF_UNTIMED_MIN_K = 4096;

/** Rows per center over which the timed rule spreads the one index build of a labelling run. */
const AMORTIZE_ROWS_PER_CENTER = 64;

/**
 * Options of {@linkcode openLabelSearch}.
 *
 * @example Usage
 * ```ts ignore
 * const o: LabelSearchOptions = { l: 8, assign: "ivf", nprobe: 32 };
 * ```
 */
export interface LabelSearchOptions {
  /** Labels (nearest centers) per row. */
  l: number;
  /** Similarity: `"cosine"` or `"ip"`. @default {"cosine"} */
  metric?: TopkMetric;
  /** Exact kernel design (see `topk`). @default {"auto"} */
  variant?: TopkVariant;
  /**
   * `"exact"` (the fused top-k kernel over every center), `"ivf"` (an index of round(√C)
   * cells over the centers, built once; each row scores the centers of its `nprobe` best
   * cells) or `"auto"` (exact for few centers, IVF where it is faster on this adapter,
   * timed once and cached).
   * @default {"auto"}
   */
  assign?: IvfSearch;
  /** Cells probed per row with IVF (≥ 1; ≥ cells is exact). @default {⌈cells / 16⌉ within [8, 16]} */
  nprobe?: number;
  /** Let `"auto"` (and the exact kernel's `"auto"` variant) time candidates. @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean;
  /** Informational messages (the timed choice, the index). */
  onLog?: (message: string) => void;
}

/**
 * Resident centers searched batch after batch for each row's top-l: exact or through an IVF
 * index built once over the centers ({@linkcode openLabelSearch}).
 *
 * @example Usage
 * ```ts ignore
 * const s = await openLabelSearch(gpu, centers, { l: 8 });
 * const { indices } = await s.labels(batch);
 * s.destroy();
 * ```
 */
export interface LabelSearch {
  /** The search in use, its cells and probes, and how it was chosen. */
  readonly choice: IvfSearchChoice;
  /**
   * The top-l centers of every row of `rows` (best first, ties by lower index).
   *
   * @param rows Query rows on the host or the GPU.
   * @param onProgress Fraction of the batch done (exact search reports within a batch).
   */
  labels(rows: Matrix | GpuMatrix, onProgress?: (fraction: number) => void): Promise<TopkResult>;
  /** Frees the GPU buffers. */
  destroy(): void;
}

/**
 * Puts `centers` on the GPU for labelling: the exact top-k keys, or an IVF index over them
 * (built once) for `assign: "ivf"`, or `"auto"` when it is faster on this adapter.
 *
 * @param gpu The GPU context.
 * @param centers `C × d` centers (finite; non-zero rows under cosine: checked by the caller).
 * @param options `l`, metric, kernel, `assign` and `nprobe` ({@linkcode LabelSearchOptions}).
 * @returns The search; call `destroy()` when done.
 * @throws {RangeError} For `nprobe` below 1, or with `assign: "exact"`.
 *
 * @example Usage
 * ```ts ignore
 * const s = await openLabelSearch(gpu, centers, { l: 8, assign: "auto" });
 * console.log(s.choice.method);
 * ```
 */
export async function openLabelSearch(
  gpu: Gpu,
  centers: Matrix | GpuMatrix,
  options: LabelSearchOptions,
): Promise<LabelSearch> {
  const { l, nprobe } = options;
  const metric = options.metric ?? "cosine";
  const variant = options.variant ?? "auto";
  const assign = options.assign ?? "auto";
  if (nprobe !== undefined && (!Number.isInteger(nprobe) || nprobe < 1)) {
    throw new RangeError(`Expected nprobe to be an integer ≥ 1 but found ${nprobe}`);
  }
  if (nprobe !== undefined && assign === "exact") {
    throw new RangeError(
      `Expected nprobe only with assign "ivf" or "auto" but found assign "exact" and nprobe ${nprobe}`,
    );
  }
  const dp = Math.ceil(centers.cols / 4) * 4;
  const autotune = options.autotune;
  const choice = await chooseIvfSearch(
    gpu,
    (p) => tuneTimer(gpu, p.k, p.rows, centers.cols, l, metric, variant, p.nprobe),
    {
      search: assign,
      k: centers.rows,
      nprobe,
      family: `labels_topk_search/dp=${dp}/${metric}/l=${l}`,
      what: `top-${l} labelling (d=${centers.cols})`,
      untimedMinK: LABELS_IVF_UNTIMED_MIN_K,
      budget: 2 ** 30 / dp,
      autotune,
      onLog: options.onLog,
    },
  );
  if (choice.method === "exact") {
    const keys = uploadTopkKeys(gpu, centers, {
      metric,
      variant,
      ...(autotune === undefined ? {} : { autotune }),
    });
    return {
      choice,
      labels: (rows, onProgress) => keys.search(rows, onProgress ? { k: l, onProgress } : { k: l }),
      destroy: () => keys.destroy(),
    };
  }
  const index: CenterIndex = buildCenterIndex(gpu, centers, { metric, cells: choice.cells });
  return {
    choice,
    labels: (rows) => ivfTopk(gpu, rows, index, { k: l, nprobe: choice.nprobe }),
    destroy: () => index.destroy(),
  };
}

/** The timed problem of "auto": exact top-l and IVF top-l of `rows` random rows over `k` centers. */
function tuneTimer(
  gpu: Gpu,
  k: number,
  rows: number,
  d: number,
  l: number,
  metric: TopkMetric,
  variant: TopkVariant,
  nprobe: number,
) {
  const rand = mulberry32(20261207);
  const random = (n: number): Matrix => ({
    data: new Float32Array(n * d).map(() => rand() - 0.5),
    rows: n,
    cols: d,
  });
  const centers = random(k), queries = random(rows);
  const keys = uploadTopkKeys(gpu, centers, { metric, variant });
  const index = buildCenterIndex(gpu, centers, { metric, build: false });
  const k1 = Math.min(l, k);
  const ms = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  return {
    exact: () => ms(() => keys.search(queries, { k: k1 })),
    ivf: async () => {
      const build = await ms(async () => {
        index.rebuild();
        await gpu.device.queue.onSubmittedWorkDone();
      });
      const search = await ms(() => ivfTopk(gpu, queries, index, { k: k1, nprobe }));
      return search + build * rows / (AMORTIZE_ROWS_PER_CENTER * k);
    },
    destroy() {
      keys.destroy();
      index.destroy();
    },
  };
}
