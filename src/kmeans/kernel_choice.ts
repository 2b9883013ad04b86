// Which assignment kernel k-means runs: the heuristic choice per adapter and row width, or the
// fastest candidate timed once per adapter through the autotune cache. (It chooses the kernel;
// the assignment itself is the AssignmentStep of assignment_step.ts.)
import type { Gpu } from "../gpu/gpu.ts";
import { uploadMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import { uniformBlockRows } from "../gpu/template.ts";
import { autotune } from "../gpu/autotune.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import {
  checkKmeansVariant,
  DEFAULT_KMEANS_OPTIONS,
  type KMeansKernelChoice,
  type KMeansVariant,
} from "./kmeans_options.ts";
import {
  centroidsPerChunk,
  createCentroids,
  packedCentroidBlocks,
  paddedWidth,
} from "./centroid_store.ts";
import { createAssignOutputs } from "./assignment_step.ts";
import { type AssignKernel, recordAssign, registerRows, type Variant } from "./_assign_programs.ts";
import { assignSlices } from "./_assign_sliced.ts";

/**
 * The kernel design for the adapter and row width: a named design as asked, and for "auto"
 * (or none) registers on CPU adapters (rows wider than the adapter's `registersMaxDim` are
 * walked in slices, so every width gets the register kernel), tiles otherwise.
 *
 * @throws {RangeError} For an unknown variant name.
 */
export function resolveKmeansVariant(
  gpu: Gpu,
  variant: KMeansVariant | undefined,
  _d: number,
): Variant {
  const v = checkKmeansVariant(variant ?? DEFAULT_KMEANS_OPTIONS.variant);
  if (v !== "auto") return v;
  return gpu.quirks.preferRegisters ? "registers" : "tiled";
}

/** Options of {@linkcode chooseKmeansKernel}. */
export interface ChooseKmeansKernelOptions {
  /** Time the candidates (once per adapter, then cached). @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean | undefined;
  /** Informational messages (what was timed and chosen). */
  onLog?: ((message: string) => void) | undefined;
}

/** Rows and centroids of the synthetic problem each candidate is timed on. */
const TUNE_ROWS = 2048, TUNE_CENTROIDS = 256;

function label(k: AssignKernel): string {
  return k.variant === "registers" ? `registers×${k.rows}` : "tiled";
}

/**
 * The candidates "auto" chooses among for rows of width `d`: the heuristic choice first.
 * On CPU adapters with rows held whole (d up to the adapter's `registersMaxDim`, 128) that
 * is the register kernel at its default row count, then at half or twice that, then tiles;
 * wider rows get the sliced register kernel (8 rows of a 64-value slice per invocation, then
 * 12: faster by about 13 % at d = 512 on lavapipe, but slower to compile), then tiles. Real GPUs try tiles, then the register kernel for d ≤ 128.
 */
export function kmeansKernelCandidates(gpu: Gpu, d: number, f16: boolean): AssignKernel[] {
  const dp = paddedWidth(d);
  const sliced = assignSlices(gpu, dp, f16) !== null;
  const registersFit = sliced || uniformBlockRows(dp, packedCentroidBlocks(dp, f16)) > 0;
  const r0 = registerRows(dp, f16, sliced);
  const tiled: AssignKernel = { variant: "tiled", rows: 0 };
  if (!registersFit) return [tiled];
  if (sliced && gpu.quirks.preferRegisters) {
    return [{ variant: "registers", rows: r0 }, { variant: "registers", rows: 12 }, tiled];
  }
  if (resolveKmeansVariant(gpu, "auto", d) === "registers") {
    const alt = r0 >= 8 ? r0 / 2 : r0 * 2;
    const out: AssignKernel[] = [{ variant: "registers", rows: r0 }];
    if (Number.isInteger(alt) && alt >= 1 && alt * (dp / 4) <= 256) {
      out.push({ variant: "registers", rows: alt });
    }
    out.push(tiled);
    return out;
  }
  return !gpu.quirks.preferRegisters && dp <= 128
    ? [tiled, { variant: "registers", rows: r0 }]
    : [tiled];
}

/**
 * Resolves the assignment kernel for a run: a named variant as asked (with its default
 * row count), or for "auto" the fastest of {@linkcode kmeansKernelCandidates} on this adapter,
 * timed once on a small synthetic problem (2048 rows × 256 centroids) through the
 * per-adapter autotune cache and read from the cache afterwards.
 *
 * @param gpu The GPU context.
 * @param requested The caller's variant (undefined means "auto").
 * @param d Row width.
 * @param f16 Packed f16 storage.
 * @param options Autotune switch and log callback.
 * @returns The kernel and how it was chosen.
 * @throws {RangeError} For an unknown variant name.
 *
 * @example Usage
 * ```ts ignore
 * const choice = await chooseKmeansKernel(gpu, "auto", 128, false);
 * ```
 */
export async function chooseKmeansKernel(
  gpu: Gpu,
  requested: KMeansVariant | undefined,
  d: number,
  f16: boolean,
  options: ChooseKmeansKernelOptions = {},
): Promise<KMeansKernelChoice> {
  const dp = paddedWidth(d);
  const named = resolveKmeansVariant(gpu, requested, d); // validates the name
  if (requested !== undefined && requested !== "auto") {
    return {
      variant: named,
      rows: named === "registers" ? registerRows(dp, f16, assignSlices(gpu, dp, f16) !== null) : 0,
      source: "requested",
      ms: null,
    };
  }
  const candidates = kmeansKernelCandidates(gpu, d, f16);
  const fallback = { ...candidates[0]!, source: "default" as const, ms: null };
  if (candidates.length === 1 || options.autotune === false) return fallback;
  // One chunk of rows and of centroids, so that tight binding limits stay cheap to time.
  const rows = Math.max(1, Math.min(TUNE_ROWS, Math.floor(gpu.maxBindingBytes / (dp * 4))));
  const k = Math.max(1, Math.min(TUNE_CENTROIDS, centroidsPerChunk(gpu, dp, false)));
  let problem: ReturnType<typeof makeProblem> | undefined;
  try {
    const result = await autotune(
      gpu,
      `kmeans_assign/dp=${dp}/${f16 ? "f16" : "f32"}`,
      candidates,
      async (kernel) => {
        problem ??= makeProblem(gpu, rows, k, d, f16);
        const t0 = performance.now();
        const enc = gpu.device.createCommandEncoder({ label: "kmeans_autotune" });
        recordAssign(gpu, kernel, problem.x, problem.cents, problem.out, true, enc);
        submit(gpu, enc);
        await gpu.device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      },
      { enabled: options.autotune, repeats: 2 },
    );
    if (result.source === "tuned") {
      const times = result.timings.map((t) =>
        `${label(t.config)} ${t.ms === null ? `failed (${t.error})` : `${t.ms.toFixed(1)} ms`}`
      ).join(", ");
      options.onLog?.(
        `Autotuned the assignment kernel for d=${d}${f16 ? " (f16)" : ""} on ${rows} rows × ${k} ` +
          `centroids: ${times} → ${label(result.config)} (${
            result.cachedIn ? `cached in ${result.cachedIn}` : "not cached: kept in memory only"
          })`,
      );
    }
    return { ...result.config, source: result.source, ms: result.ms };
  } catch (e) {
    options.onLog?.(
      `Assignment kernel autotune failed (${(e as Error).message}); using ${label(fallback)}`,
    );
    return fallback;
  } finally {
    problem?.destroy();
  }
}

function makeProblem(gpu: Gpu, rows: number, k: number, d: number, f16: boolean) {
  const rand = mulberry32(20240917);
  const data = new Float32Array(rows * d);
  for (let i = 0; i < data.length; i++) data[i] = rand() - 0.5;
  for (let r = 0; r < rows; r++) data[r * d] = (data[r * d] ?? 0) + 1; // no zero rows
  const dp = paddedWidth(d);
  const x = uploadMatrix(gpu, { data, rows, cols: d }, {
    label: "tune_x",
    stride: dp,
    dtype: f16 ? "f16" : "f32",
    normalize: true,
  });
  const padded = new Float32Array(k * dp);
  for (let c = 0; c < k; c++) {
    let s = 0;
    const src = (c % rows) * d;
    for (let j = 0; j < d; j++) s += data[src + j]! ** 2;
    for (let j = 0; j < d; j++) padded[c * dp + j] = data[src + j]! / Math.sqrt(s);
  }
  const cents = createCentroids(gpu, k, d, f16, centroidsPerChunk(gpu, dp, false), padded);
  const out = createAssignOutputs(gpu, x);
  return {
    x,
    cents,
    out,
    destroy() {
      x.destroy();
      cents.destroy();
      out.destroy();
    },
  };
}
