// The k-means flags of `deno task cluster`, parsed once for every mode (flat, --shard,
// --merge, --hierarchical) with the defaults of DEFAULT_KMEANS_OPTIONS; and the one
// --variant check, shared with `deno task assign`.
import { intFlag, UsageError } from "./_cli.ts";
import {
  DEFAULT_KMEANS_OPTIONS as D,
  type KMeansMetric,
  type KMeansVariant,
} from "../kmeans/kmeans_options.ts";

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

/** Parses the k-means flags, each absent one taking its DEFAULT_KMEANS_OPTIONS value. */
export function kmeansFlags(v: KMeansFlagValues): KMeansFlags {
  const metric = metricFlag(v);
  const variant = variantFlag(v.variant);
  return {
    batchRows: intFlag("batch-rows", v["batch-rows"], D.batchRows, 1),
    niter: intFlag("niter", v.niter, D.niter, 0),
    nredo: intFlag("nredo", v.nredo, D.nredo, 1),
    seed: intFlag("seed", v.seed, D.seed, 0),
    metric,
    f16: v.f16 ?? D.f16,
    variant,
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
  --max-points-per-centroid N   train on a sample of k×N rows (default ${D.maxPointsPerCentroid})`;
