import type { Gpu } from "../gpu/gpu.ts";
import { autotune } from "../gpu/autotune.ts";
import { ivfDefaults } from "./ivf_options.ts";

/**
 * Exact search or the IVF index, as a caller asks (`"exact"`, `"ivf"`) or leaves to the
 * adapter (`"auto"`).
 *
 * @example Usage
 * ```ts ignore
 * const search: IvfSearch = "auto";
 * ```
 */
export type IvfSearch = "exact" | "ivf" | "auto";

/**
 * The search chosen by {@linkcode chooseIvfSearch}: the method, the index's cells and probes
 * (0 for exact), and how it was chosen.
 *
 * @example Usage
 * ```ts ignore
 * const c: IvfSearchChoice = { method: "ivf", cells: 316, nprobe: 20, source: "cache" };
 * ```
 */
export interface IvfSearchChoice {
  /** Exact search, or through the IVF index. */
  method: "exact" | "ivf";
  /** Cells of the index (round(√K)); 0 for exact. */
  cells: number;
  /** Cells probed per row; 0 for exact. */
  nprobe: number;
  /**
   * "requested": named by the caller; "tuned": `"auto"` timed both on this adapter now;
   * "cache": such a timing stored earlier; "default": `"auto"`'s untimed rule.
   */
  source: "requested" | "tuned" | "cache" | "default";
}

/**
 * How much faster than exact search `"auto"` needs IVF to be, since IVF is approximate: its
 * timed pass counts × 1.5 (near the crossover the timings of both are within noise).
 */
export const IVF_AUTO_MARGIN = 1.5;

/**
 * The cells and probes of an IVF search over `k` centers: cells = round(√k), nprobe as given
 * (at most the cells) or `ivfDefaults`' ⌈cells / 16⌉ within [8, 16].
 *
 * @param options `k`, the centers, and `nprobe`, the probes asked for (absent: the default).
 * @returns The cells and the probes used.
 *
 * @example Usage
 * ```ts
 * import { ivfPlan } from "./ivf_auto.ts";
 * console.log(ivfPlan({ k: 20000 })); // { cells: 141, nprobe: 9 }
 * console.log(ivfPlan({ k: 20000, nprobe: 500 })); // { cells: 141, nprobe: 141 }: every cell, exact
 * ```
 */
export function ivfPlan(
  options: { k: number; nprobe?: number | undefined },
): { cells: number; nprobe: number } {
  const { cells, nprobe: dflt } = ivfDefaults({ k: options.k });
  return { cells, nprobe: Math.min(cells, options.nprobe ?? dflt) };
}

/**
 * The synthetic problem `"auto"` times: `k` centers (the caller's K rounded to a power of
 * two), `rows` query rows, and the probes of an index over `k` centers.
 *
 * @example Usage
 * ```ts ignore
 * const p: IvfTuneProblem = { k: 16384, rows: 4096, nprobe: 8 };
 * ```
 */
export interface IvfTuneProblem {
  /** Centers. */
  k: number;
  /** Query rows. */
  rows: number;
  /** Probes of the IVF search. */
  nprobe: number;
}

/**
 * How a caller times its two searches on an {@linkcode IvfTuneProblem}: milliseconds of one
 * exact pass and of one IVF pass (the index build spread over the rows as the caller's
 * searches spread it).
 *
 * @example Usage
 * ```ts ignore
 * const timer: IvfTimer = { exact: async () => 12, ivf: async () => 3, destroy() {} };
 * ```
 */
export interface IvfTimer {
  /** One exact pass, in ms. */
  exact(): Promise<number>;
  /** One IVF pass, in ms. */
  ivf(): Promise<number>;
  /** Frees the problem. */
  destroy(): void;
}

/**
 * Options of {@linkcode chooseIvfSearch}.
 *
 * @example Usage
 * ```ts ignore
 * const o: ChooseIvfSearchOptions = { search: "auto", k: 20000, family: "labels/dp=128", untimedMinK: 4096 };
 * ```
 */
export interface ChooseIvfSearchOptions {
  /** The search asked for. */
  search: IvfSearch;
  /** Centers. */
  k: number;
  /** Probes asked for (undefined: the default). */
  nprobe?: number | undefined;
  /** The autotune cache family of the task and shape (the K bucket and probes are appended). */
  family: string;
  /** What is searched, for the log line (e.g. "the assignment", "top-8"). */
  what?: string;
  /** Untimed rule: IVF from this many centers. */
  untimedMinK: number;
  /** Largest work of one timed exact pass, in (row, center) pairs. @default {2^26} */
  budget?: number;
  /** Let "auto" time the searches. @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean | undefined;
  /** Informational messages (what was timed and chosen). */
  onLog?: ((message: string) => void) | undefined;
}

/**
 * Resolves exact search or IVF. `"exact"` and `"ivf"` as asked. `"auto"`: exact when IVF would
 * probe half the cells or more (K below ≈ 300 with the default nprobe); untimed (autotuning
 * off) IVF from `untimedMinK` centers; otherwise the faster of the two on this adapter (IVF's
 * time counted × {@linkcode IVF_AUTO_MARGIN}: it is approximate), timed
 * once through the caller's `timer` on a synthetic problem (K rounded to a power of two, up to
 * 4096 rows within `budget`) and cached per adapter in the autotune cache, like the kernel
 * variants, so later runs at a K of the same power of two read the choice.
 *
 * @param gpu The GPU context (its adapter names the cache entry).
 * @param timer Makes the timed problem (called only when timing).
 * @param o The search asked for, K, probes, cache family and switches.
 * @returns The search chosen, with its cells, probes and source.
 *
 * @example Usage
 * ```ts ignore
 * const choice = await chooseIvfSearch(gpu, (p) => makeTimer(p), { search: "auto", k, family, untimedMinK: 4096 });
 * ```
 */
export async function chooseIvfSearch(
  gpu: Gpu,
  timer: (problem: IvfTuneProblem) => IvfTimer,
  o: ChooseIvfSearchOptions,
): Promise<IvfSearchChoice> {
  const exact: IvfSearchChoice = { method: "exact", cells: 0, nprobe: 0, source: "default" };
  const plan = ivfPlan({ k: o.k, nprobe: o.nprobe });
  const ivf: IvfSearchChoice = { method: "ivf", ...plan, source: "default" };
  if (o.search === "exact") return { ...exact, source: "requested" };
  if (o.search === "ivf") return { ...ivf, source: "requested" };
  if (2 * plan.nprobe > plan.cells) return exact;
  const untimed = o.k >= o.untimedMinK ? ivf : exact;
  if (o.autotune === false) return untimed;
  const kb = 2 ** Math.round(Math.log2(o.k));
  const bPlan = ivfPlan({ k: kb, nprobe: o.nprobe });
  if (2 * bPlan.nprobe > bPlan.cells) return exact;
  const rows = Math.max(256, Math.min(4096, Math.floor((o.budget ?? 2 ** 26) / kb)));
  const candidates = untimed.method === "ivf"
    ? [{ search: "ivf" }, { search: "exact" }]
    : [{ search: "exact" }, { search: "ivf" }];
  let t: IvfTimer | undefined;
  const raw = new Map<string, number>();
  try {
    const family = `${o.family}/k=2^${Math.log2(kb)}/nprobe=${o.nprobe ?? "default"}`;
    const r = await autotune(gpu, family, candidates, async ({ search }) => {
      t ??= timer({ k: kb, rows, nprobe: bPlan.nprobe });
      const ms = search === "ivf" ? await t.ivf() : await t.exact();
      raw.set(search, Math.min(ms, raw.get(search) ?? Infinity));
      return search === "ivf" ? ms * IVF_AUTO_MARGIN : ms;
    }, { enabled: o.autotune, repeats: 2 });
    const method = r.config.search === "ivf" ? "ivf" : "exact";
    if (r.source === "tuned") {
      const times = r.timings.map((x) =>
        `${x.config.search} ${
          x.ms === null ? `failed (${x.error})` : `${raw.get(x.config.search)!.toFixed(1)} ms`
        }`
      ).join(", ");
      o.onLog?.(
        `Autotuned ${o.what ?? "the search"} for k ≈ ${kb} on ${rows} rows: ${times} ` +
          `(IVF counted × ${IVF_AUTO_MARGIN}) → ${method} (${
            r.cachedIn ? `cached in ${r.cachedIn}` : "kept in memory only"
          })`,
      );
    }
    return { ...(method === "ivf" ? ivf : exact), source: r.source };
  } catch (e) {
    o.onLog?.(`Search autotune failed (${(e as Error).message}); using ${untimed.method}`);
    return untimed;
  } finally {
    t?.destroy();
  }
}
