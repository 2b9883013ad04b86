// deno task gpu-check: one command that checks the kernels at GPU-sized shapes against float64
// references on sampled rows, times them, and writes bench/results/<adapter>.md and .json.
//
//   deno task gpu-check                   # paper shapes (meant for a datacenter GPU, ≤ 8 min)
//   deno task gpu-check --quick           # small shapes (the software adapter; used by a test)
//   deno task gpu-check --out DIR         # write the results under DIR (default bench/results)
//
// Paper shapes: k-means 1M × 512 → 100k (its assignment pass, and one Lloyd iteration end to
// end: assignments, centroid update, final pass and objectives, checked against float64 on
// sampled rows and centers), top-8 of 100k × 1M at d = 512, the MLCD loss at n = 4096,
// C = 100k, d = 512 (r = 0.1), and the large-K case: 1M × 512 rows → 1M centers, one k-means
// iteration with the IVF assignment, and top-8 of the 1M rows over 1M centers through the IVF
// index, against exact search on sampled rows (scripts/gpu_check/large_k_check.ts; about 11 GiB
// of GPU memory; with --quick it runs at 3000 × 32). Then the PyTorch matmul + topk peer at the top-k shape
// (bench/peers/torch_topk.py) when an interpreter (MLCD_PYTHON, /usr/bin/python3, python3)
// imports torch: on CUDA when torch sees a GPU, else on the CPU; otherwise the report says
// "torch: not available". Then the benchmark suite: bench/'s k-means and top-k sections at full
// shapes (--no-suite skips it; with --quick it runs only when --suite asks, at the bench's
// --quick shapes). One file per job under scripts/gpu_check/.
// No npm package is on this script's import path (check: `deno info scripts/gpu_check.ts`), so it
// runs on a bare GPU machine with only the Deno binary and the Vulkan loader. Exit code 1 when a
// check fails, 2 on bad arguments.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { measurePeak } from "../src/gpu/peak.ts";
import { writeFileAtomic } from "../src/fs/atomic.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";
import { details, roofline, rows as benchRows, tunings } from "../bench/report.ts";
import { type CheckResult, log, PAPER, QUICK, randomMatrix } from "./gpu_check/common.ts";
import { checkAssignment, checkIteration } from "./gpu_check/kmeans_check.ts";
import { checkTopk } from "./gpu_check/topk_check.ts";
import { checkLoss } from "./gpu_check/loss_check.ts";
import { checkLargeK } from "./gpu_check/large_k_check.ts";
import { torchMarkdown, torchPeer, type TorchPeerReport } from "./gpu_check/torch_check.ts";
import { runSuite, suiteMarkdown } from "./gpu_check/suite.ts";

function usage(message: string): never {
  console.error(`mlcd gpu-check: ${message}`);
  Deno.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        "no-suite": { type: "boolean", default: false },
        suite: { type: "boolean", default: false },
        out: { type: "string", default: "bench/results" },
        device: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    usage((e as Error).message);
  }
})();
if (values.help) {
  console.log(
    "mlcd gpu-check [--quick] [--suite] [--no-suite] [--out DIR] [--device D] [--json]: kernel exactness at GPU-sized " +
      "shapes against float64 on sampled rows, timings, the PyTorch top-k peer, then the bench " +
      "suite's k-means and top-k sections (with --quick only if --suite); writes DIR/<adapter>.md and .json " +
      "and prints the Markdown (--json: the JSON) on stdout",
  );
  Deno.exit(0);
}
const quick = values.quick;
const shapes = quick ? QUICK : PAPER;

function slug(description: string): string {
  return description.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") ||
    "unknown-adapter";
}

const started = performance.now();
const gpu = await createGpu(values.device === undefined ? {} : { device: values.device });
log(
  `adapter: ${gpu.info.description} (${gpu.quirks.profile} profile)${
    quick ? ", quick shapes" : ""
  }`,
);
log(`device: ${gpu.selection.note}`);
const results: CheckResult[] = [];
const peers: { torch?: TorchPeerReport } = {};
{
  const { n, k, d } = shapes.kmeans;
  log(`generating ${n} × ${d} rows and ${k} × ${d} centroids`);
  const x = randomMatrix(n, d, 1), c = randomMatrix(k, d, 2);
  results.push(await checkAssignment(gpu, shapes, x, c));
  // One iteration on rows of its own (grouped, so that float64 knows every center's members).
  results.push(await checkIteration(gpu, shapes));
  // Top-k reuses the random ones: the centroids as queries, the rows as keys.
  const t = shapes.topk;
  const q = t.nq === k && t.d === d ? c : randomMatrix(t.nq, t.d, 3);
  const keys = t.nk === n && t.d === d ? x : randomMatrix(t.nk, t.d, 4);
  const top = await checkTopk(gpu, shapes, q, keys);
  results.push(top.result);
  peers.torch = await torchPeer(gpu, q, keys, top, quick);
}
results.push(await checkLoss(gpu, shapes));
// K = 1M (issue 20): one IVF k-means iteration and top-8 through the index (small with --quick).
results.push(...await checkLargeK(gpu, shapes, results[0]?.gflops ?? null));
log("peak FMA throughput");
const peak = await measurePeak(gpu, quick ? { repeats: 1, workgroups: 64, targetMs: 10 } : {});

const suite = await runSuite(
  gpu,
  quick,
  values["no-suite"]
    ? "not run (--no-suite)"
    : quick && !values.suite
    ? "not run with --quick (--suite runs it)"
    : null,
  peak.f32.gflops,
);
const totalS = (performance.now() - started) / 1000;

const report = {
  adapter: gpu.info,
  device: gpu.selection,
  profile: gpu.quirks.profile,
  toolkit: TOOLKIT_VERSION,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
  quick,
  totalSeconds: totalS,
  peak: { f32: peak.f32.gflops, f16: peak.f16?.gflops ?? null },
  checks: results,
  peers,
  suite: { ...suite, rows: benchRows, roofline, tunings, details },
};
const fmt = (v: number | null) => v === null ? "–" : v.toFixed(1);
const md = [
  `# gpu-check: ${gpu.info.description}`,
  "",
  `${report.date}, mlcd ${TOOLKIT_VERSION}, Deno ${report.deno}, ${gpu.quirks.profile} profile` +
  `${quick ? ", quick shapes" : ""}; ${totalS.toFixed(0)} s in all. ` +
  `Device: ${gpu.selection.note}. ` +
  `Peak FMA: ${peak.f32.gflops.toFixed(0)} GFLOP/s f32${
    peak.f16 ? `, ${peak.f16.gflops.toFixed(0)} GFLOP/s packed f16` : ""
  }.`,
  "",
  "| check | shape | exact | ms | GFLOP/s | detail |",
  "| --- | --- | --- | --- | --- | --- |",
  ...results.map((r) =>
    `| ${r.name} | ${r.shape} | ${r.ok ? "yes" : "**NO**"} | ${r.ms.toFixed(0)} | ${
      fmt(r.gflops)
    } | ${r.detail} |`
  ),
  "",
  ...(peers.torch ? torchMarkdown(peers.torch) : []),
  ...suiteMarkdown(suite, quick),
].join("\n");
const base = `${values.out.replace(/\/+$/, "")}/${slug(gpu.info.description)}${
  quick ? "-quick" : ""
}`;
await Deno.mkdir(values.out, { recursive: true });
const enc = new TextEncoder();
await writeFileAtomic(`${base}.json`, enc.encode(JSON.stringify(report, null, 2) + "\n"));
await writeFileAtomic(`${base}.md`, enc.encode(md));
console.log(values.json ? JSON.stringify(report) : md);
log(`wrote ${base}.md and ${base}.json`);
gpu.destroy();
const failed = results.filter((r) => !r.ok).map((r) => r.name);
// torch absent is reported ("torch: not available"), not a failure; a peer that ran and broke,
// or disagrees with ours beyond float32 ties, is.
if (peers.torch?.status === "failed") failed.push("PyTorch peer (failed to run)");
if (peers.torch?.status === "ok" && !peers.torch.agrees) failed.push("PyTorch peer (disagrees)");
if (suite.why?.startsWith("failed")) failed.push("benchmark suite");
if (failed.length) {
  log(`FAILED: ${failed.join(", ")}`);
  Deno.exit(1);
}
