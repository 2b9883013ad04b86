// deno run -A bench/wide_rows_compare.ts [--n 20000] [--k 2000] [--dims 512,768] [--reps 3]
//   [--tools faiss,tiled,whole,sliced] [--out bench/results/wide_rows.md]
// Issue 20, d > 128 on the CPU adapter: top-8 and one k-means assignment pass over wide rows with
// the register kernels walking d in slices (after; "auto" picks them now), against what ran
// before (with "auto": the tiled kernel above d = 128; with variant "registers": the whole-row
// register kernel, 1 row per invocation at d = 512 and 768) and faiss IndexFlatIP (CPU, top-8,
// and top-1 as the assignment pass), every repetition interleaved in one run on the same data.
// Reports the fastest wall time and CPU time of each (the machine is shared: CPU seconds move
// less with the load than wall seconds), the ratios to faiss, and agreement with faiss.
import { parseArgs } from "node:util";
import process from "node:process";
import { createGpu, type Gpu } from "../src/gpu/gpu.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { uploadTopkKeys } from "../src/topk/topk.ts";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { clustered, sliceRows } from "./synthetic.ts";
import { cpuModel } from "./machine.ts";
import { findPython, HERE } from "./python.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string" },
    k: { type: "string" },
    dims: { type: "string" },
    reps: { type: "string" },
    tools: { type: "string" },
    out: { type: "string" },
  },
});
const n = Number(values.n ?? 20000);
const K = Number(values.k ?? 2000);
const dims = (values.dims ?? "512,768").split(",").map(Number);
const reps = Number(values.reps ?? 3);
const outPath = values.out ?? new URL("./results/wide_rows.md", import.meta.url).pathname;
const log = (s: string) => console.error(`wide_rows_compare: ${s}`);

const py = await findPython();
if (!py?.faiss) throw new Error("faiss is needed (the peer of this comparison)");
const gpu = await createGpu();
/** The same device holding every row whole: the register kernels as they were before. */
const whole: Gpu = { ...gpu, quirks: { ...gpu.quirks, registersMaxDim: Infinity } };
const tmp = await Deno.makeTempDir({ prefix: "mlcd_wide_" });

type Problem = "top-8" | "assign";
type Tool = "faiss" | "tiled" | "whole" | "sliced";
const TOOL_NAMES: Record<Tool, string> = {
  faiss: "faiss IndexFlatIP",
  tiled: "tiled kernel (before, `auto`)",
  whole: "registers, whole rows (before, `registers`)",
  sliced: "registers, d in slices (after, `auto`)",
};
interface Timing {
  wall: number[];
  cpu: number[];
  agree: number | null;
}
const results = new Map<string, Timing>();
const key = (d: number, p: Problem, t: Tool) => `${d}/${p}/${t}`;
function record(k: string, wall: number, cpu: number) {
  const r = results.get(k) ?? { wall: [], cpu: [], agree: null };
  r.wall.push(wall);
  r.cpu.push(cpu);
  results.set(k, r);
}

async function ours(gpuOf: Gpu, variant: "tiled" | "registers", p: Problem, x: Matrix, c: Matrix) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let idx: Uint32Array;
  if (p === "top-8") {
    const index = uploadTopkKeys(gpuOf, c, { metric: "ip", variant, autotune: false });
    try {
      idx = (await index.search(x, { k: 8 })).indices;
    } finally {
      index.destroy();
    }
  } else {
    idx = (await assignNearest(gpuOf, x, c, { variant, autotune: false })).assignments;
  }
  const wall = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(c0);
  return { wall, cpu: (u.user + u.system) / 1e6, idx };
}

async function faiss(p: Problem, d: number) {
  const k = p === "top-8" ? 8 : 1;
  const out = `${tmp}/faiss_${d}_${k}.npy`;
  const cmd = new Deno.Command(py!.exe, {
    args: [
      `${HERE}peers/flat_ip_repeat.py`,
      `${tmp}/x${d}.npy`,
      `${tmp}/c${d}.npy`,
      `${k}`,
      "1",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const o = await cmd.output();
  if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
  const r = JSON.parse(new TextDecoder().decode(o.stdout).trim().split("\n").pop()!);
  return { wall: r.wall[0] as number, cpu: r.cpu[0] as number, meta: r, out };
}

function agreement(a: Uint32Array, b: Uint32Array, k: number): number {
  let hit = 0;
  for (let r = 0; r < a.length / k; r++) {
    const want = new Set(b.subarray(r * k, (r + 1) * k));
    for (let j = 0; j < k; j++) if (want.has(a[r * k + j]!)) hit++;
  }
  return hit / a.length;
}

const load0 = await Deno.readTextFile("/proc/loadavg").catch(() => "?");
const data = new Map<number, { x: Matrix; c: Matrix }>();
let faissMeta: Record<string, unknown> = {};
for (const d of dims) {
  const all = clustered(n + K, d, Math.max(1, Math.floor(K / 10)), 20 + d);
  const c = sliceRows(all, 0, K), x = sliceRows(all, K, n);
  data.set(d, { x, c });
  await writeNpy(`${tmp}/x${d}.npy`, x.data, [n, d]);
  await writeNpy(`${tmp}/c${d}.npy`, c.data, [K, d]);
}
const wanted = (values.tools ?? "faiss,tiled,whole,sliced").split(",");
for (const t of ["faiss", "sliced"]) {
  if (!wanted.includes(t)) throw new Error(`--tools must include ${t} (the ratios' references)`);
}
// The whole-row top-k kernel holds at most 512 values.
const tools = (d: number, p: Problem): Tool[] =>
  (["faiss", "tiled", "whole", "sliced"] as Tool[]).filter((t) =>
    wanted.includes(t) && !(t === "whole" && p === "top-8" && d > 512)
  );
const truth = new Map<string, Uint32Array>();
// Warm-up (pipelines compiled, untimed), then the timed rounds, interleaved.
for (let rep = -1; rep < reps; rep++) {
  for (const d of dims) {
    const { x, c } = data.get(d)!;
    for (const p of ["top-8", "assign"] as Problem[]) {
      for (const t of tools(d, p)) {
        log(`${rep < 0 ? "warm-up" : `round ${rep + 1}/${reps}`}: d=${d} ${p} ${t}`);
        if (t === "faiss") {
          if (rep < 0) continue;
          const f = await faiss(p, d);
          faissMeta = f.meta;
          record(key(d, p, t), f.wall, f.cpu);
          truth.set(`${d}/${p}`, (await readNpyArray(f.out)).data as Uint32Array);
          continue;
        }
        const g = t === "whole" ? whole : gpu;
        const r = await ours(g, t === "tiled" ? "tiled" : "registers", p, x, c);
        if (rep < 0) continue;
        record(key(d, p, t), r.wall, r.cpu);
        const want = truth.get(`${d}/${p}`);
        if (want) results.get(key(d, p, t))!.agree = agreement(r.idx, want, p === "top-8" ? 8 : 1);
      }
    }
  }
}
const load1 = await Deno.readTextFile("/proc/loadavg").catch(() => "?");

const min = (a: number[]) => Math.min(...a);
const fmt = (s: number) => s >= 10 ? s.toFixed(1) : s.toFixed(2);
const lines: string[] = [];
lines.push(
  "# Wide rows on the CPU adapter: the register kernels walk d in slices (issue 20)",
  "",
  `Machine: ${await cpuModel()}, ${navigator.hardwareConcurrency} vCPUs, shared with other jobs; ` +
    `adapter ${gpu.info.description}; Deno ${Deno.version.deno}; faiss ${
      faissMeta.faiss_version ?? "?"
    } (${faissMeta.threads ?? "?"} threads). ${new Date().toISOString().slice(0, 10)}.`,
  `Load average before / after: ${load0.trim().split(" ").slice(0, 3).join(" ")} / ${
    load1.trim().split(" ").slice(0, 3).join(" ")
  }.`,
  "",
  `Data: ${n} query rows and ${K} centers (unit rows, ${Math.floor(K / 10)} clusters), cosine. ` +
    "top-8: `uploadTopkKeys` + `search` (query upload and read-back included); assign: " +
    "`assignNearest` (one fused assignment pass, upload and read-back included); faiss: " +
    "`IndexFlatIP.search` with k = 8 and k = 1 (after `add` and a warm-up search). " +
    `Each figure is the fastest of ${reps} rounds, tools interleaved in every round; all ` +
    "rounds in parentheses. CPU seconds: the process's user + system time (all threads). " +
    "Agreement: share of faiss's result sets found (ties may differ).",
  "",
  "| d | problem | tool | wall s (all rounds) | CPU s | wall vs faiss | CPU vs faiss | after vs this (wall) | GFLOP/s (wall) | agreement |",
  "|---|---|---|---|---|---|---|---|---|---|",
);
for (const d of dims) {
  for (const p of ["top-8", "assign"] as Problem[]) {
    const f = results.get(key(d, p, "faiss"))!;
    const after = results.get(key(d, p, "sliced"))!;
    for (const t of tools(d, p)) {
      const r = results.get(key(d, p, t))!;
      const flop = 2 * n * K * d;
      lines.push(
        `| ${d} | ${p} | ${TOOL_NAMES[t]} | ${fmt(min(r.wall))} (${r.wall.map(fmt).join(", ")}) | ${
          fmt(min(r.cpu))
        } | ${t === "faiss" ? "1" : `${(min(r.wall) / min(f.wall)).toFixed(2)}×`} | ${
          t === "faiss" ? "1" : `${(min(r.cpu) / min(f.cpu)).toFixed(2)}×`
        } | ${t === "sliced" ? "1" : `${(min(r.wall) / min(after.wall)).toFixed(2)}×`} | ${
          (flop / min(r.wall) / 1e9).toFixed(1)
        } | ${r.agree === null ? "reference" : r.agree.toFixed(4)} |`,
      );
    }
  }
}
const text = lines.join("\n") + "\n";
console.log(text);
await Deno.writeTextFile(`${outPath}.tmp`, text);
await Deno.rename(`${outPath}.tmp`, outPath);
await Deno.remove(tmp, { recursive: true });
log(`wrote ${outPath}`);
