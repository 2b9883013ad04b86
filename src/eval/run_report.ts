/**
 * The visual run report: one self-contained `report.html` with SVG charts (Vega-Lite,
 * rendered server-side) of a training run: loss and learning rate per step, the k-means
 * objective per iteration, the cluster-size distribution, and the eval table.
 *
 * @module
 */

import { writeFileAtomic } from "../data/atomic.ts";
import type { KMeansIterationStats } from "../kmeans/kmeans_options.ts";
import { renderVegaLiteSvg } from "./charts.ts";
import type { EvalMetrics } from "./evaluate.ts";
import { evalRows } from "./eval_rows.ts";
import { checkOptionsObject } from "../_options.ts";

/** What a run directory holds for its report (each part optional but the steps). */
export interface RunReportData {
  /** The run directory. */
  runDir: string;
  /** Per-step training log (`metrics.jsonl`). */
  steps: { step: number; loss: number; lr: number; epoch?: number }[];
  /** k-means per-iteration stats (`kmeans.json`). */
  kmeans?: { objective: number; imbalanceFactor: number }[];
  /** Rows per cluster (`kmeans.json`). */
  clusterSizes?: number[];
  /** Eval rows by name (`eval.json`), in {@linkcode evalRows}' order: raw inputs, untrained, trained. */
  eval?: [string, EvalMetrics][];
  /** The training config (`checkpoint.json`). */
  config?: Record<string, unknown>;
}

/**
 * Writes a run's k-means per-iteration stats and cluster sizes to `<runDir>/kmeans.json`
 * (atomically), for {@linkcode readRunReport}.
 *
 * @param runDir The run directory (created if missing).
 * @param stats Per-iteration stats from `kmeans`' `onIteration`.
 * @param sizes Rows per cluster, when known.
 * @returns A promise that resolves once the file is written.
 *
 * @example Usage
 * ```ts ignore
 * await writeKmeansStats("runs/a", stats, clusterSizes(assignments, { k }));
 * ```
 */
export async function writeKmeansStats(
  runDir: string,
  stats: KMeansIterationStats[],
  sizes?: Uint32Array,
): Promise<void> {
  await Deno.mkdir(runDir, { recursive: true });
  const body = { iterations: stats, ...(sizes ? { clusterSizes: [...sizes] } : {}) };
  await writeFileAtomic(
    `${runDir}/kmeans.json`,
    new TextEncoder().encode(JSON.stringify(body) + "\n"),
  );
}

/**
 * Counts the rows of every cluster.
 *
 * @param assignments Each row's cluster.
 * @param options `k`, the number of clusters (larger ids are ignored).
 * @returns `k` counts.
 * @throws {RangeError} When `k` is not an integer ≥ 0.
 *
 * @example Usage
 * ```ts
 * import { clusterSizes } from "./run_report.ts";
 * console.log(clusterSizes(new Uint32Array([0, 2, 2]), { k: 3 })); // Uint32Array(3) [ 1, 0, 2 ]
 * ```
 */
export function clusterSizes(assignments: Uint32Array, options: { k: number }): Uint32Array {
  checkOptionsObject("clusterSizes", options, "{ k: 100 }");
  const { k } = options;
  if (!Number.isInteger(k) || k < 0) {
    throw new RangeError(`Expected k to be an integer ≥ 0 but found ${k}`);
  }
  const s = new Uint32Array(k);
  for (const a of assignments) if (a < k) s[a]!++;
  return s;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new TypeError(`Cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Reads what a run directory holds for its report: `metrics.jsonl` (required), and when
 * present `kmeans.json`, `eval.json` and `checkpoint.json`. With several runs appended to one
 * log, the last run (from its step 1 on) is kept.
 *
 * @param runDir A run directory of `deno task train` (or the demo).
 * @returns The report data.
 * @throws {Deno.errors.NotFound} When the run has no `metrics.jsonl`.
 * @throws {TypeError} For a line of `metrics.jsonl` that is not JSON (naming the line).
 *
 * @example Usage
 * ```ts ignore
 * const html = await renderRunReport(await readRunReport("runs/a"));
 * ```
 */
export async function readRunReport(runDir: string): Promise<RunReportData> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${runDir}/metrics.jsonl`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`No training log ${runDir}/metrics.jsonl`);
    }
    throw e;
  }
  const byStep = new Map<number, RunReportData["steps"][number]>();
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let r: Record<string, number>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new TypeError(`Cannot parse ${runDir}/metrics.jsonl line ${i + 1}: not JSON`);
    }
    if (typeof r.step !== "number") return;
    // A resumed run re-logs steps after its checkpoint: the later line wins.
    byStep.set(r.step, { step: r.step, loss: r.loss!, lr: r.lr!, epoch: r.epoch! });
  });
  const steps = [...byStep.values()].sort((a, b) => a.step - b.step);
  const data: RunReportData = { runDir, steps };
  const km = await readJson(`${runDir}/kmeans.json`);
  if (km) {
    const it = (km.iterations as KMeansIterationStats[] | undefined) ?? [];
    if (it.length) {
      data.kmeans = it.map((s) => ({ objective: s.objective, imbalanceFactor: s.imbalanceFactor }));
    }
    if (Array.isArray(km.clusterSizes)) data.clusterSizes = km.clusterSizes as number[];
  }
  const ev = await readJson(`${runDir}/eval.json`);
  if (ev) {
    const pick = (o: unknown): EvalMetrics | undefined =>
      o && typeof o === "object" && "linearProbeTop1" in o ? o as EvalMetrics : undefined;
    const raw = pick(ev.raw), untrained = pick(ev.baseline), own = pick(ev);
    const rows = evalRows({
      ...(raw ? { raw } : {}),
      ...(untrained ? { untrained } : {}),
      trained: own ? [[`trained (step ${ev.step ?? "?"})`, own]] : [],
    });
    if (rows.length) data.eval = rows;
  }
  const ck = await readJson(`${runDir}/checkpoint.json`);
  if (ck && typeof ck.config === "object") data.config = ck.config as Record<string, unknown>;
  return data;
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function lineChart(
  values: Record<string, number>[],
  x: string,
  y: string,
  title: string,
  opts: { color?: string; logY?: boolean; points?: boolean } = {},
): Record<string, unknown> {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 440,
    autosize: { type: "fit", contains: "padding" },
    height: 200,
    data: { values },
    mark: { type: "line", color: opts.color ?? "#1f77b4", point: opts.points ?? false },
    encoding: {
      x: { field: x, type: "quantitative", title: x },
      y: {
        field: y,
        type: "quantitative",
        title: y,
        scale: { zero: false, ...(opts.logY ? { type: "log" } : {}) },
      },
    },
  };
}

/** Ranks drawn of a large k: the sorted sizes are a monotone curve, and 1000 points show it. */
const MAX_RANKS = 1000;
/** Up to this k, one bar per cluster; above it, the curve of sizes by rank. */
const MAX_BARS = 200;

/**
 * The cluster sizes sorted by rank: one bar per cluster up to {@linkcode MAX_BARS} clusters,
 * else an area under the sizes (at most {@linkcode MAX_RANKS} ranks, the first and the last
 * included). The rank axis spans exactly [1, k] with integer ticks that do not collide.
 */
function clusterSizeChart(clusterSizes: number[]): Record<string, unknown> {
  const sizes = [...clusterSizes].sort((a, b) => b - a);
  const n = sizes.reduce((a, b) => a + b, 0), k = sizes.length;
  const imb = n > 0 ? k * sizes.reduce((a, b) => a + b * b, 0) / (n * n) : 0;
  const bars = k <= MAX_BARS;
  const ranks = bars || k <= MAX_RANKS
    ? sizes.map((_, i) => i)
    : Array.from({ length: MAX_RANKS }, (_, i) => Math.round(i * (k - 1) / (MAX_RANKS - 1)));
  const gap = k <= 60 ? 0.1 : 0; // a gap between bars while they are wide enough for one
  const values = ranks.map((i) => ({
    rank: i + 1,
    from: i + 0.5 + gap,
    to: i + 1.5 - gap,
    size: sizes[i]!,
  }));
  const rankAxis = {
    title: "cluster rank",
    axis: { format: ",d", tickMinStep: 1, labelOverlap: true, labelFlush: true },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `cluster sizes (k = ${k.toLocaleString("en-US")}, imbalance factor ${imb.toFixed(3)})`,
    width: 440,
    autosize: { type: "fit", contains: "padding" },
    height: 200,
    data: { values },
    mark: bars
      ? { type: "rect", color: "#9467bd" }
      : { type: "area", color: "#9467bd", interpolate: "step-after" },
    encoding: {
      x: {
        field: bars ? "from" : "rank",
        type: "quantitative",
        ...rankAxis,
        scale: { domain: bars ? [0.5, k + 0.5] : [1, k], nice: false, zero: false },
      },
      ...(bars ? { x2: { field: "to" } } : {}),
      y: { field: "size", type: "quantitative", title: "rows" },
      ...(bars ? { y2: { datum: 0 } } : {}),
    },
  };
}

/**
 * Renders a run report as one self-contained HTML page: inline SVG charts (Vega-Lite rendered
 * server-side), inline CSS, no script and no external resource.
 *
 * @param data From {@linkcode readRunReport}.
 * @returns The HTML text.
 *
 * @example Usage
 * ```ts ignore
 * await Deno.writeTextFile("report.html", await renderRunReport(await readRunReport("runs/a")));
 * ```
 */
export async function renderRunReport(data: RunReportData): Promise<string> {
  const sections: string[] = [];
  const steps = data.steps.map((s) => ({ step: s.step, loss: s.loss, lr: s.lr }));
  if (steps.length) {
    sections.push(
      `<section><h2>Training</h2><div class="row">${await renderVegaLiteSvg(
        lineChart(steps, "step", "loss", "MLCD loss per step"),
      )}${await renderVegaLiteSvg(
        lineChart(steps, "step", "lr", "learning rate per step", { color: "#ff7f0e" }),
      )}</div></section>`,
    );
  }
  const km: string[] = [];
  if (data.kmeans?.length) {
    const v = data.kmeans.map((s, i) => ({ iteration: i + 1, objective: s.objective }));
    km.push(
      await renderVegaLiteSvg(
        lineChart(v, "iteration", "objective", "k-means objective (sum of cosines) per iteration", {
          color: "#2ca02c",
          points: true,
        }),
      ),
    );
  }
  if (data.clusterSizes?.length) {
    km.push(await renderVegaLiteSvg(clusterSizeChart(data.clusterSizes)));
  }
  if (km.length) {
    sections.push(`<section><h2>Clustering</h2><div class="row">${km.join("")}</div></section>`);
  }
  if (data.eval?.length) {
    const keys = Object.keys(data.eval[0]![1]) as (keyof EvalMetrics)[];
    const head = `<tr><th>metric</th>${data.eval.map(([n]) => `<th>${esc(n)}</th>`).join("")}</tr>`;
    const body = keys.map((k) => {
      const best = Math.max(...data.eval!.map(([, m]) => m[k]));
      return `<tr><td>${esc(k)}</td>${
        data.eval!.map(([, m]) =>
          `<td${m[k] === best ? ' class="best"' : ""}>${m[k].toFixed(4)}</td>`
        ).join("")
      }</tr>`;
    }).join("");
    const bars = data.eval.flatMap(([name, m]) => [
      { row: name, metric: "linear probe top-1", value: m.linearProbeTop1 },
      { row: name, metric: "kNN top-1", value: m.knnTop1 },
      { row: name, metric: "NMI", value: m.nmi },
    ]);
    const order = data.eval.map(([name]) => name);
    const chart = await renderVegaLiteSvg({
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "evaluation",
      data: { values: bars },
      mark: "bar",
      width: 110,
      height: 140,
      encoding: {
        // The metrics in the table's order, the rows in the table's order.
        column: {
          field: "metric",
          type: "nominal",
          title: null,
          sort: ["linear probe top-1", "kNN top-1", "NMI"],
        },
        x: { field: "row", type: "nominal", title: null, axis: { labels: false }, sort: order },
        y: { field: "value", type: "quantitative", scale: { domain: [0, 1] } },
        color: {
          field: "row",
          type: "nominal",
          title: "features",
          sort: order,
          legend: { labelLimit: 0 }, // whole names: "trained (step final)"
        },
      },
    });
    sections.push(
      `<section><h2>Evaluation</h2><table>${head}${body}</table><div class="row">${chart}</div></section>`,
    );
  }
  const cfg = data.config
    ? `<details><summary>config</summary><pre>${
      esc(JSON.stringify(data.config, null, 2))
    }</pre></details>`
    : "";
  const last = data.steps.at(-1);
  const summary = last
    ? `${last.step} steps, final loss ${last.loss.toFixed(4)}${
      data.config ? `, encoder ${esc(String(data.config.encoder))}` : ""
    }`
    : "no steps logged";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlcd run report: ${esc(data.runDir)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}
.row{display:flex;flex-wrap:wrap;gap:16px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}td.best{font-weight:bold;background:#eef6ee}
.sub{color:#666;font-size:13px}
</style></head><body>
<h1>mlcd run report</h1><div class="sub">${esc(data.runDir)}: ${summary}</div>
${sections.join("\n")}
${cfg}
</body></html>
`;
}
