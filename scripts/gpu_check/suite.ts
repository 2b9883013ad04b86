// gpu-check's benchmark suite: bench/'s k-means and top-k sections, in this process (their npm
// peers, ml-kmeans and hnswlib, load dynamically and fail to a row of their own on a machine
// without npm packages). The loss section's peer is tfjs (npm); the loss is timed by the checks.
import { FULL, QUICK as BENCH_QUICK } from "../../bench/shapes.ts";
import { sectionKmeans } from "../../bench/kmeans_section.ts";
import { sectionTopk } from "../../bench/topk_section.ts";
import { findPython } from "../../bench/python.ts";
import {
  computeRatios,
  fmtRatio,
  fmtSeconds,
  rows as benchRows,
  tunings,
} from "../../bench/report.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import { log } from "./common.ts";

/** Whether the suite ran, and why not. */
export interface SuiteOutcome {
  ran: boolean;
  why?: string;
}

/**
 * Runs the suite unless `skip` says why not (`--no-suite`, or `--quick` without `--suite`),
 * at the bench's full shapes, or its `--quick` shapes with `quick`.
 */
export async function runSuite(
  gpu: Gpu,
  quick: boolean,
  skip: string | null,
  peakGflops: number,
): Promise<SuiteOutcome> {
  if (skip) return { ran: false, why: skip };
  log(
    `benchmark suite: bench/kmeans_section.ts and bench/topk_section.ts at ${
      quick ? "--quick" : "full"
    } shapes`,
  );
  const shapes = quick ? BENCH_QUICK : FULL;
  const py = await findPython();
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-gpu-check-" });
  try {
    await sectionKmeans(gpu, shapes, py, tmp, peakGflops, 600);
    await sectionTopk(gpu, shapes, quick, py, tmp, peakGflops, 600);
    computeRatios();
    return { ran: true };
  } catch (e) {
    return { ran: false, why: `failed: ${(e as Error).message}` };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** The suite's section of the markdown report. */
export function suiteMarkdown(suite: SuiteOutcome, quick: boolean): string[] {
  if (!suite.ran) return ["## Benchmark suite", "", `Benchmark suite: ${suite.why}.`, ""];
  return [
    `## Benchmark suite (bench/ sections, ${quick ? "--quick" : "full"} shapes)`,
    "",
    "Ratio = peer time / mlcd time (above 1: mlcd is faster); for a variant, our time / its time.",
    "",
    "| task | tool | shape | time | quality | ratio | note |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...benchRows.map((r) =>
      `| ${r.section} | ${r.tool} | ${r.shape} | ${fmtSeconds(r.seconds)} | ${r.quality} | ${
        fmtRatio(r.ratio)
      } | ${r.note} |`
    ),
    "",
    ...tunings.map((t) => `- autotune: ${t}`),
    "",
  ];
}
