// The k-means flags of `deno task cluster`, parsed once for every mode (flat, --shard,
// --merge, --hierarchical) with the defaults of DEFAULT_KMEANS_OPTIONS; and the one
// --variant, --assign and --nprobe checks, shared with `deno task assign`.
import { intFlag, UsageError } from "./_cli.ts";
import {
  DEFAULT_KMEANS_OPTIONS as D,
  type KMeansAssign,
  type KMeansMetric,
  type KMeansVariant,
} from "../kmeans/kmeans_options.ts";
import { checkKmeansAssign } from "../kmeans/assignment_choice.ts";

/** The parseArgs options of the k-means flags. */
export const KMEANS_FLAG_OPTIONS = {
  niter: { type: "string" },
  nredo: { type: "string" },
  seed: { type: "string" },
  metric: { type: "string" },
  spherical: { type: "boolean" }, // removed: a usage error naming --metric
  "no-spherical": { type: "boolean" },
  f16: { type: "boolean" },
  variant: { type: "string" },
  assign: { type: "string" },
  nprobe: { type: "string" },
  "max-points-per-centroid": { type: "string" },
  "batch-rows": { type: "string" },
} as const;

/** The k-means flags' values as parseArgs gives them. */
export interface KMeansFlagValues {
  niter?: string | undefined;
  nredo?: string | undefined;
  seed?: string | undefined;
  metric?: string | undefined;
  spherical?: boolean | undefined;
  "no-spherical"?: boolean | undefined;
  f16?: boolean | undefined;
  variant?: string | undefined;
  assign?: string | undefined;
  nprobe?: string | undefined;
  "max-points-per-centroid"?: string | undefined;
  "batch-rows"?: string | undefined;
}

/**
 * The k-means parameters of every cluster mode, in the order the job manifests record them
 * (`batchRows` first, which they leave out: results do not depend on it).
 */
export interface KMeansFlags {
  batchRows: number;
  niter: number;
  nredo: number;
  seed: number;
  metric: KMeansMetric;
  f16: boolean;
  variant: KMeansVariant;
  assign: KMeansAssign;
  /** Cells probed per row with IVF; absent for the default (manifests record null). */
  nprobe?: number;
  maxPointsPerCentroid: number;
}

/**
 * `--metric cosine|l2` (default cosine). The removed `--spherical`/`--no-spherical` flags are
 * a usage error that names the `--metric` equivalent.
 */
export function metricFlag(
  v: Pick<KMeansFlagValues, "metric" | "spherical" | "no-spherical">,
): KMeansMetric {
  if (v.spherical !== undefined || v["no-spherical"] !== undefined) {
    const flag = v["no-spherical"] !== undefined ? "--no-spherical" : "--spherical";
    const now = flag === "--spherical" ? "--metric cosine" : "--metric l2";
    throw new UsageError(`Expected --metric cosine|l2 but found ${flag} (removed; use ${now})`);
  }
  const metric = v.metric ?? D.metric;
  if (metric !== "cosine" && metric !== "l2") {
    throw new UsageError(`Expected --metric to be cosine or l2 but found ${metric}`);
  }
  return metric;
}

/** `--variant auto|registers|tiled` (default auto), for the k-means and top-k kernels alike. */
export function variantFlag(v: string | undefined): KMeansVariant {
  const variant = v ?? D.variant;
  if (variant !== "auto" && variant !== "registers" && variant !== "tiled") {
    throw new UsageError(`Expected --variant to be auto, registers or tiled but found ${variant}`);
  }
  return variant;
}

/**
 * `--assign exact|ivf|auto` (default auto) and `--nprobe N` (an integer ≥ 1; not with
 * `--assign exact`), for k-means and for the labels of `deno task assign` alike.
 */
export function assignFlags(
  v: { assign?: string | undefined; nprobe?: string | undefined },
): { assign: KMeansAssign; nprobe?: number } {
  let assign: KMeansAssign;
  try {
    assign = checkKmeansAssign(v.assign ?? D.assign, "--assign");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.nprobe === undefined) return { assign };
  const nprobe = intFlag("nprobe", v.nprobe, 0, 1);
  if (assign === "exact") {
    throw new UsageError(
      "Expected --nprobe only with --assign ivf or auto but found --assign exact",
    );
  }
  return { assign, nprobe };
}

/** Parses the k-means flags, each absent one taking its DEFAULT_KMEANS_OPTIONS value. */
export function kmeansFlags(v: KMeansFlagValues): KMeansFlags {
  const metric = metricFlag(v);
  const variant = variantFlag(v.variant);
  const search = assignFlags(v);
  return {
    batchRows: intFlag("batch-rows", v["batch-rows"], D.batchRows, 1),
    niter: intFlag("niter", v.niter, D.niter, 0),
    nredo: intFlag("nredo", v.nredo, D.nredo, 1),
    seed: intFlag("seed", v.seed, D.seed, 0),
    metric,
    f16: v.f16 ?? D.f16,
    variant,
    ...search,
    maxPointsPerCentroid: intFlag(
      "max-points-per-centroid",
      v["max-points-per-centroid"],
      D.maxPointsPerCentroid,
      1,
    ),
  };
}

/** Help lines of the k-means flags, their defaults from DEFAULT_KMEANS_OPTIONS. */
export const KMEANS_FLAGS_HELP = `  --niter N             Lloyd iterations (default ${D.niter})
  --nredo N             runs with different seeds, best kept (default ${D.nredo})
  --seed N              random seed (default ${D.seed})
  --metric M            cosine (spherical k-means, default) | l2 (plain k-means on
                        squared L2 distance)
  --f16                 store rows and centroids as packed f16 (f32 accumulation)
  --variant V           assignment kernel: auto | registers | tiled (default ${D.variant})
  --assign A            assignment step: exact | ivf (approximate: an index of round(√k)
                        cells over the centroids, rebuilt every iteration; each row scores
                        the centroids of its --nprobe best cells) | auto (exact for small k,
                        ivf where it is faster on this GPU, timed once and cached; default ${D.assign})
  --nprobe N            cells probed per row with ivf (default ⌈cells/16⌉ within [8, 16]; more
                        for data without cluster structure, ≥ cells is exact)
  --max-points-per-centroid N   train on a sample of k×N rows (default ${D.maxPointsPerCentroid})`;
