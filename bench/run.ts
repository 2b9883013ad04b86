// `deno task bench [--quick] [--out bench/results] [--only kmeans,topk,loss,vit,hf,loader,ooc,largek]`
//
// End-to-end comparisons against the peers on the same data in one run, a table of ratios
// on stdout, and bench/results/<machine>.md + .json:
//   - spherical k-means (objective and time) vs faiss, scikit-learn KMeans and ml-kmeans,
//     plus our packed-f16 variant; every tool's centroids are scored by the same exact
//     assignment so the objectives compare;
//   - top-8 over the centers vs faiss IndexFlatIP (exact) and hnswlib (recall and time);
//   - the MLCD loss forward + backward vs the same math in plain tfjs ops;
//   - the ViT train step's samples/s (bench/vit_bench.ts), a ViT-B/16-shaped Hugging Face
//     tower's embedding images/s and the CLIP processor's (bench/hf_bench.ts), the loader's images/s
//     (bench/loader_bench.ts), out-of-core k-means peak RSS and time (bench/ooc_bench.ts);
//   - with --only largek (about 70 minutes on 2 cores, never by default): bench/large_k.ts,
//     K = 20000 and 100000 against faiss flat and HNSW, into DIR/large_k.md;
//   - the adapter's measured arithmetic peak, transfer GB/s, and a roofline line per kernel.
// Each section is independent: a missing peer or a failing part prints one line and the
// run goes on. --quick uses smaller shapes (named in the table) and finishes in a few
// minutes on a 2-core machine with the software adapter.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { measurePeak, type PeakResult } from "../src/gpu/peak.ts";
import {
  computeRatios,
  details,
  emit,
  fail,
  log,
  markdown,
  notes,
  printTable,
  type Roofline,
  roofline,
  type Row,
  rows,
  setChildResultPath,
  skip,
  tunings,
  writeAtomic,
} from "./report.ts";
import { FULL, QUICK } from "./shapes.ts";
import { cpuCounters, cpuModel, machineSlug } from "./machine.ts";
import { findPython, type Python } from "./python.ts";
import { sectionKmeans } from "./kmeans_section.ts";
import { sectionTopk } from "./topk_section.ts";
import { sectionLoss } from "./loss_section.ts";
import { sectionTransfer } from "./transfer_section.ts";
import { oocSection } from "./ooc_bench.ts";
import { benchVitTrainStep, VIT_BENCH_SECTION } from "./vit_bench.ts";
import { benchHfEmbed, HF_BENCH_SECTION } from "./hf_bench.ts";
// ---------------------------------------------------------------------------------------
// Main

const SECTIONS = ["kmeans", "topk", "loss", "vit", "hf"] as const;
type Section = typeof SECTIONS[number];

interface SectionContext {
  quick: boolean;
  peakGflops: number | null;
  py: Python | null;
  tmp: string;
  timeoutS: number;
}

interface SectionOutput {
  tunings: string[];
  rows: Row[];
  roofline: Roofline[];
  details: Record<string, unknown>;
  notes: string[];
}

/** Child-process mode: runs one section and writes its rows to `resultPath`. */
async function runSection(name: Section, ctx: SectionContext, resultPath: string): Promise<void> {
  setChildResultPath(resultPath);
  const gpu = await createGpu();
  const shapes = ctx.quick ? QUICK : FULL;
  if (name === "kmeans") {
    await sectionKmeans(gpu, shapes, ctx.py, ctx.tmp, ctx.peakGflops, ctx.timeoutS);
  } else if (name === "topk") {
    await sectionTopk(gpu, shapes, ctx.quick, ctx.py, ctx.tmp, ctx.peakGflops, ctx.timeoutS);
  } else if (name === "vit") {
    details.vit = await benchVitTrainStep(gpu, ctx.quick, emit, log);
  } else if (name === "hf") {
    details.hf = await benchHfEmbed(gpu, ctx.quick, emit, log);
  } else {
    await sectionLoss(gpu, shapes, ctx.peakGflops);
  }
  const out: SectionOutput = { rows, roofline, details, notes, tunings };
  await writeAtomic(resultPath, JSON.stringify(out));
  gpu.destroy();
}

const SECTION_TITLES: Record<Section, string> = {
  kmeans: "spherical k-means",
  topk: "top-8",
  loss: "MLCD loss fwd+bwd",
  vit: VIT_BENCH_SECTION,
  hf: HF_BENCH_SECTION,
};

/**
 * Runs a section in its own Deno process with a time limit, so that a hang, a lost
 * device or a crash in one library part costs only that section's rows.
 */
async function spawnSection(name: Section, ctx: SectionContext, limitS: number): Promise<void> {
  const resultPath = `${ctx.tmp}/${name}.result.json`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--section",
      name,
      "--context",
      JSON.stringify(ctx),
      "--result",
      resultPath,
    ],
    stdout: jsonOut ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  // With --json, stdout carries only the JSON: a section's output goes to stderr.
  const forwarded = jsonOut
    ? child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true })
    : Promise.resolve();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, limitS * 1000);
  const status = await child.status;
  await forwarded.catch(() => {});
  clearTimeout(timer);
  let partial = false;
  try {
    const out = JSON.parse(await Deno.readTextFile(resultPath)) as SectionOutput;
    rows.push(...out.rows);
    roofline.push(...out.roofline);
    Object.assign(details, out.details);
    notes.push(...out.notes);
    tunings.push(...(out.tunings ?? []));
    partial = out.rows.length > 0;
  } catch { /* nothing was written */ }
  if (timedOut || !status.success) {
    const why = timedOut
      ? `section stopped after its ${limitS} s limit`
      : `section process exited with code ${status.code} (see its stderr above)`;
    skip(
      SECTION_TITLES[name],
      "remaining tools",
      "—",
      partial ? `${why}; rows above finished` : why,
    );
  }
}

/** `--json`: the results JSON is the only thing on stdout (tables and notes go to stderr). */
let jsonOut = false;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      out: { type: "string", default: "bench/results" },
      only: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      // internal: child-process mode for one section
      section: { type: "string" },
      context: { type: "string" },
      result: { type: "string" },
    },
  });
  if (values.help) {
    console.log(
      "mlcd bench [--quick] [--out DIR] [--only kmeans,topk,loss,vit,hf,loader,ooc,largek] [--json]\n" +
        "Runs the end-to-end comparisons and writes DIR/<machine>.md and .json\n" +
        "(--json: the JSON on stdout too, and the tables on stderr).",
    );
    return;
  }
  if (values.section) {
    await runSection(
      values.section as Section,
      JSON.parse(values.context!) as SectionContext,
      values.result!,
    );
    return;
  }
  const quick = values.quick!;
  const stdoutLog = console.log;
  if (values.json) {
    jsonOut = true;
    console.log = console.error;
  }
  const all = [...SECTIONS, "loader"]; // loader: bench/loader_bench.ts, in this process
  const only = (values.only ?? all.join(",")).split(",").map((s) => s.trim());
  for (const o of only) {
    if (!all.includes(o) && o !== "ooc" && o !== "largek") {
      console.error(`bench: --only expects some of ${all.join(",")},ooc,largek but found "${o}"`);
      Deno.exit(2);
    }
  }
  const timeoutS = quick ? 120 : 1800;
  // Per-section wall-clock limits: --quick must finish in about 3 minutes in all.
  const limits: Record<Section, number> = quick
    ? { kmeans: 90, topk: 45, loss: 30, vit: 60, hf: 120 }
    : { kmeans: 2400, topk: 1800, loss: 900, vit: 600, hf: 900 };
  const started = performance.now();
  const cpu0 = await cpuCounters();

  const gpu = await createGpu().catch((e: Error) => {
    console.error(`mlcd bench: ${e.message}`); // no adapter: the one-line fix, exit 2
    return Deno.exit(2);
  });
  const cpu = await cpuModel();
  const cores = navigator.hardwareConcurrency;
  const machine = machineSlug(gpu.info.description, cpu, cores);
  log(`${machine}: ${gpu.info.description}; ${cpu}, ${cores} cores`);

  let peak: PeakResult | null = null;
  try {
    log("measuring the arithmetic peak");
    peak = await measurePeak(gpu, { repeats: 5 });
  } catch (e) {
    notes.push(`peak measurement failed: ${(e as Error).message}`);
  }
  try {
    log("measuring transfers");
    await sectionTransfer(gpu, quick);
  } catch (e) {
    notes.push(`transfer measurement failed: ${(e as Error).message}`);
  }

  const py = await findPython();
  if (py) log(`python peers via ${py.exe}: faiss ${py.faiss}, scikit-learn ${py.sklearn}`);
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-bench-" });
  const ctx: SectionContext = { quick, peakGflops: peak?.f32.gflops ?? null, py, tmp, timeoutS };
  try {
    for (const name of SECTIONS) {
      if (only.includes(name)) await spawnSection(name, ctx, limits[name]);
    }
    // Out-of-core k-means (bench/ooc_bench.ts): peak RSS and time for growing on-disk data.
    if (!values.only || only.includes("ooc")) await oocSection(quick, values.out!, machine, log);
    // Large K (bench/large_k.ts, its own report): only when asked, it runs for an hour.
    if (only.includes("largek")) {
      log("large K: bench/large_k.ts (whole processes against faiss)");
      const script = new URL("./large_k.ts", import.meta.url).pathname;
      const out = `${values.out!}/large_k${quick ? "_quick" : ""}.md`;
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...(quick ? ["--quick"] : []), "--out", out],
        stdout: jsonOut ? "null" : "inherit",
        stderr: "inherit",
      }).output();
      if (!r.success) notes.push(`bench/large_k.ts failed (exit ${r.code})`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  if (only.includes("loader")) {
    log("image loader (shards → batches) vs the vit-tiny train step");
    try {
      rows.push(...await (await import("./loader_bench.ts")).loaderBenchRows(quick));
    } catch (e) {
      fail("image loader", "mlcd loader", "—", e);
    }
  }

  // The peak again after the sections (other load may have changed); the better of the
  // two measurements is the roofline's denominator.
  try {
    log("measuring the arithmetic peak again");
    const again = await measurePeak(gpu, { repeats: 5 });
    if (peak) {
      notes.push(
        `fp32 peak measured before and after the sections: ${peak.f32.gflops.toFixed(1)} and ${
          again.f32.gflops.toFixed(1)
        } GFLOP/s; the higher is used.`,
      );
    }
    if (!peak || again.f32.gflops > peak.f32.gflops) peak = again;
  } catch (e) {
    notes.push(`second peak measurement failed: ${(e as Error).message}`);
  }
  if (peak) {
    for (const r of roofline) {
      r.peakGflops = peak.f32.gflops;
      r.fraction = r.gflops / r.peakGflops;
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu1 = await cpuCounters();
  let othersShare: number | null = null;
  if (cpu0 && cpu1) {
    const others = (cpu1.total - cpu0.total) - (cpu1.self - cpu0.self);
    othersShare = Math.max(0, others / (elapsed * cores));
    notes.push(
      othersShare > 0.05
        ? `Timings were taken while other processes shared the ${cores} cores: they used ${
          (othersShare * 100).toFixed(0)
        }% of the machine's CPU time during this run, so absolute times are pessimistic.`
        : `The machine was otherwise idle during the run (other processes used ${
          (othersShare * 100).toFixed(0)
        }% of the CPU time).`,
    );
  }
  notes.push(
    "Objectives are the sum over all rows of the cosine to the nearest centroid, computed " +
      "for every tool's centroids by the same exact assignment kernel (higher is better). " +
      "Each tool uses its own random initialisation.",
  );
  notes.push(
    "Roofline flops: 2·n·k·d + 3·n·d per k-means iteration, 2·q·N·d for top-k, 6·n·S·d for " +
      "the loss (S sampled classes: logits and both gradient GEMMs), over the measured fp32 " +
      "peak of the same run.",
  );
  notes.push(`Total run time ${elapsed.toFixed(0)} s.`);
  const command = `deno task bench${quick ? " --quick" : ""}`;
  const meta = {
    machine,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    adapter: gpu.info.description,
    vendor: gpu.info.vendor,
    architecture: gpu.info.architecture,
    cpu,
    cores,
    deno: Deno.version.deno,
    quick,
    command,
  };
  computeRatios();
  printTable();
  const dir = values.out!;
  await Deno.mkdir(dir, { recursive: true });
  const json = {
    ...meta,
    shapes: quick ? QUICK : FULL,
    elapsedS: elapsed,
    otherProcessesCpuShare: othersShare,
    peak,
    rows,
    roofline,
    tunings,
    details,
    notes,
  };
  await writeAtomic(`${dir}/${machine}.json`, JSON.stringify(json, null, 2) + "\n");
  await writeAtomic(`${dir}/${machine}.md`, markdown(meta, peak));
  console.log(`\nwrote ${dir}/${machine}.md and ${dir}/${machine}.json (${elapsed.toFixed(0)} s)`);
  if (values.json) stdoutLog(JSON.stringify(json));
  gpu.destroy();
}

if (import.meta.main) await main();
